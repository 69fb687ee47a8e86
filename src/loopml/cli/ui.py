"""``loopml ui``: the web UI and the API on the embedded store, for one user on this machine
(loopback only), opening a browser tab once it listens."""

from __future__ import annotations

from typing import Annotated

import typer

from loopml.cli.output import console, errors_to_exit


def ui(
    port: Annotated[int, typer.Option(help="Port to listen on (127.0.0.1 only).")] = 5000,
    no_browser: Annotated[
        bool, typer.Option("--no-browser", help="Do not open a browser tab.")
    ] = False,
) -> None:
    """Open the web UI over this machine's store (the same pages and /api/v1 as loopml server)."""
    from loopml.core.settings import load_settings
    from loopml.server.run import ServerOptions, serve

    url = f"http://127.0.0.1:{port}/"

    def ready() -> None:
        console().print(f"loopml UI at {url} (Ctrl-C to stop)")
        if not no_browser:
            import webbrowser

            webbrowser.open_new_tab(url)

    with errors_to_exit():
        serve(load_settings(None), ServerOptions(host="127.0.0.1", port=port), on_ready=ready)
