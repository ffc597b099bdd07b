"""Root conftest: puts tests/ on sys.path so every test folder can import shared_paths."""
