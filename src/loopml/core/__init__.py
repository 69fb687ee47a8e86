"""Pure building blocks: names, references, errors, settings. No I/O beyond reading env."""
