"""The one error a channel raises."""


class DeliveryError(Exception):
    """A message was not delivered. The text is safe to store and log: a status code,
    a timeout, a refused connection; never the payload or a secret."""


def connection_reason(exc: BaseException, timeout_s: float) -> str | None:
    """The short reason of a failed HTTP request (requests' errors), for every HTTP channel
    alike; None when `exc` is not a timeout, TLS or connection error."""
    import requests  # only where an HTTP channel already runs

    if isinstance(exc, requests.Timeout):
        return f"no answer within {timeout_s:g} s"
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS error (certificate not trusted?)"
    if isinstance(exc, requests.ConnectionError):
        return "connection failed"
    return None
