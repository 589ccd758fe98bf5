"""The bundled contrastive trainer (DESIGN section 6).

- :mod:`.config`      TrainConfig, the frozen run configuration
- :mod:`.backbones`   EfficientNet-B0 (1-channel, 1280-d) and a small CNN (VGGish, ResNet50, MAEST in
  backbones_vgg / backbones_resnet / backbones_maest)
- :mod:`.maest_init`  MAEST initial weights from a local DeiT-B/384 or PaSST-S-S16 file
- :mod:`.balanced_sampler`, :mod:`.augment`, :mod:`.input_stats`  MAEST's balanced epochs, mixup and
  SpecAugment, training-set input statistics (seed 004 ch. 6)
- :mod:`.objectives`  COLA, SimCLR NT-Xent, Word2Vec alignment and style-classification heads
- :mod:`.model`       backbone + one head per task (multi-task = several associations)
- :mod:`.data`        PairSource (stored pairs, ICO), Word2Vec vectors, style targets, crops
- :mod:`.loop`        the ``train`` stage (checkpoints, resume, SWA, AMP, DDP)
- :mod:`.embed`       the ``embed`` stage (patch-averaged embeddings)

torch is imported by these modules; import them lazily from the CLI.
"""
