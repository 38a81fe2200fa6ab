"""The one exception type users see for bad input: a message that names the problem and the fix."""


class ConfigError(ValueError):
    """Bad user input (config key, value, path, array). Raised before any work starts.

    The CLI prints it as a single ``error: ...`` line and exits with status 2.
    """
