"""The store: finished work kept on disk. A run's settings hash to a folder; each step is written
atomically, so a sweep resumes where it stopped; the whole cache exports to, and imports from, one file."""
