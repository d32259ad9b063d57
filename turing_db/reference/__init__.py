"""The reference workflow 3001: its offline actors (an extractive summariser, a grader, a scorer),
ESCO skill matching, and the deterministic demo postings it runs on."""
