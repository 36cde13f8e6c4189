"""The project's own exceptions: the CLI turns every one of them into a one-line `Error: ...`."""


class MotorecError(Exception):
    """Base class for errors caused by input, configuration or stored state, not by a bug."""


class InputError(MotorecError):
    """Bad user input: a file, a column, a row or an argument that breaks a data contract."""


class ConfigError(MotorecError):
    """A configuration file or value that cannot be used (unknown key, wrong type, out of range)."""


class ArtifactError(MotorecError):
    """A saved artifact (tokenizer, checkpoint) that is missing, corrupted or does not match."""


class StoreError(MotorecError):
    """The store is locked, inconsistent or cannot be written."""
