"""CycleGAN and pix2pix training (installed as `vidtrans.training`).

`config` (TrainConfig), `domains` and `data` (what the domains hold and how samples are drawn), `inputs`
(the loader of a run), `losses`, `pool`, `schedule`, `models`/`cyclegan`/`pix2pix` (the steps),
`checkpoint` and `rundir` (what a run writes), `distributed` (torchrun), `logs` (TensorBoard, samples),
`loop` (the trainer: `train(config, run_dir)`) and `export_model` (run -> model directory).
"""
