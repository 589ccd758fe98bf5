"""The bundled contrastive trainer (DESIGN section 6).

- :mod:`.config`      TrainConfig, the frozen run configuration
- :mod:`.backbones`   EfficientNet-B0 (1-channel, 1280-d) and a small CNN
- :mod:`.objectives`  COLA, SimCLR NT-Xent, Word2Vec alignment and style-classification heads
- :mod:`.model`       backbone + one head per task (multi-task = several associations)
- :mod:`.data`        PairSource (stored pairs, ICO), Word2Vec vectors, style targets, crops
- :mod:`.loop`        the ``train`` stage (checkpoints, resume, SWA, AMP, DDP)
- :mod:`.embed`       the ``embed`` stage (patch-averaged embeddings)

torch is imported by these modules; import them lazily from the CLI.
"""
