"""privacy room."""
