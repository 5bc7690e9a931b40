"""Run by the peer's interpreter: one call of Kubiya's SDK, printed as one JSON line.

argv: base URL, service (e.g. ``workers``), method (e.g. ``get``), JSON list of arguments.
The API key comes from ``INTEROP_SDK_KEY`` (not argv: argv shows in the process list).
"""

import json
import os
import sys


def main() -> None:
    base_url, service, method, args = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
    from kubiya import ControlPlaneClient

    # No retries: the SDK's default retries 500s with backoff, which only slows a failing test.
    client = ControlPlaneClient(api_key=os.environ["INTEROP_SDK_KEY"], base_url=base_url, max_retries=0, timeout=30)
    try:
        result = getattr(getattr(client, service), method)(*args)
    except Exception as exc:  # the SDK wraps every failure; report what a caller would see
        cause = exc
        status = None
        while cause is not None and status is None:
            status = getattr(cause, "status_code", None)
            cause = cause.__cause__ or cause.__context__
        print(json.dumps({"error": type(exc).__name__, "message": str(exc)[:2000], "status_code": status}))
        return
    print(json.dumps({"result": result}, default=str))


if __name__ == "__main__":
    main()
