"""The audio modality: WAV reading, keyword datasets and the log-mel front end.

Self-contained so that the modality seam (issue 8) can plug it in as one folder:
``wav`` reads clips, ``dataset`` loads and splits a keyword dataset, ``frontend``
is the feature spec with its integer Python reference and the tables its C
mirror (``firmware/audio/``) compiles.
"""
