"""Running batch jobs on a Ray cluster (`--engine ray`; needs the `ray` extra).

    cluster   importing Ray (with the install hint), starting it locally or joining a cluster, planning the
              actors (how many, GPUs each), quiet Ray Data settings, errors from workers as one line
    synth     `vidtrans synth` as a Ray Data pipeline: decode tasks -> translating actors -> write tasks
    convert   `vidtrans convert FOLDER_OF_VIDEOS`: one video per task on translating actors

Ray schedules and retries; vidtrans' own code reads, translates and writes each item, so the files and the
manifest are those of the local engine. Nothing here is imported unless a job runs on Ray.
"""
