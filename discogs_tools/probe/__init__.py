"""The probe evaluator: scores frozen embeddings on downstream tasks (DESIGN section 6).

Modules, in data-flow order:

- :mod:`.datasets`    downstream dataset manifests (multi-label, multi-class, similarity triplets),
                      validation of their records, seeded splits, class vocabulary
- :mod:`.embeddings`  embedding Parquet files (track_id, embedding), read for the dataset's tracks only,
                      and stacks of several runs (concatenation per track)
- :mod:`.backbone`    embeddings from a run or checkpoint (trained or random-weight) through ``discogs-tools embed``
- :mod:`.mlp`         the MLP probe (one 512-unit hidden layer, Adam, halve LR on plateau, best validation epoch)
- :mod:`.metrics`     macro ROC-AUC / PR-AUC, accuracy, triplet accuracy and distance gap
- :mod:`.plot`        per-class bar plot (PNG)
- :mod:`.run`         the ``probe`` stage: several seeds, models and baselines -> runs/<run>/probe/<task>.json
- :mod:`.compare`     several runs side by side (layout of Table 3 of the ISMIR 2022 paper)
"""
