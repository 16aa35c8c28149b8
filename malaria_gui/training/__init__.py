"""Training the bundled model: data and patient splits, augmentation, networks, the run itself.

Imports Keras; the application only needs it when training or loading a model.
"""
