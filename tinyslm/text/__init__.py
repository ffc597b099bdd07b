"""Text intents: the dataset loader, the tokenizer spec, the model builder and its training."""
