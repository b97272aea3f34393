"""The one error a channel raises."""


class DeliveryError(Exception):
    """A message was not delivered. The text is safe to store and log: a status code,
    a timeout, a refused connection; never the payload or a secret."""
