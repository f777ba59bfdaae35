"""Serve a model over HTTP with MLflow's scoring protocol (POST /invocations), loading it
through khabar's trust policy and answering exactly what `khabar predict` writes; POST
/explain answers the rows `khabar explain` writes."""

from __future__ import annotations

import io
import ipaddress
import json
import sys
from collections.abc import Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pandas as pd
from sklearn.pipeline import Pipeline

from khabar.errors import KhabarError
from khabar.model.pipeline import class_labels, is_multi_label
from khabar.record.explain import Explainer
from khabar.record.model_info import running_versions
from khabar.runs.explain import explain_frame, explanation_rows
from khabar.runs.predict import json_records, load_model, predict_frame

MAX_BODY_BYTES = 32 * 1024 * 1024  # a batch of news texts, not a corpus: send corpora in parts
REQUEST_NAME = "request"  # stands in for a file name in the errors predict_frame raises


def request_frame(body: bytes, content_type: str, text_column: str) -> pd.DataFrame:
    """The texts of an /invocations request, in any input form MLflow's scoring server takes.

    Parameters
    ----------
    body : bytes
        The request body: JSON `dataframe_split`, `dataframe_records`, `inputs` or
        `instances` (a list of texts or of records), or CSV with a header.
    content_type : str
        The request's Content-Type; ``text/csv`` means CSV, anything else JSON.
    text_column : str
        The column a bare list of texts is put in (the model's text column).

    Returns
    -------
    DataFrame
        One row per item of the request.

    Raises
    ------
    KhabarError
        The body is not UTF-8 JSON, or not in one of the forms above.
    """
    if content_type.split(";")[0].strip().lower() == "text/csv":
        return pd.read_csv(io.BytesIO(body), dtype=str, keep_default_na=False, na_values=[""])
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise KhabarError(f"{REQUEST_NAME}: body is not UTF-8 JSON: {exc}") from None
    if isinstance(payload, dict) and "dataframe_split" in payload:
        split = payload["dataframe_split"]
        if not isinstance(split, dict) or "data" not in split:
            raise KhabarError(f"{REQUEST_NAME}: dataframe_split needs 'columns' and 'data'")
        return pd.DataFrame(split["data"], columns=split.get("columns"))
    if isinstance(payload, dict) and "dataframe_records" in payload:
        return pd.DataFrame.from_records(payload["dataframe_records"])
    rows: Any = payload
    if isinstance(payload, dict):
        keys = [k for k in ("inputs", "instances") if k in payload]
        if not keys:
            raise KhabarError(
                f"{REQUEST_NAME}: expected one of dataframe_split, dataframe_records, inputs, "
                f"instances; got keys {sorted(payload)}"
            )
        rows = payload[keys[0]]
    if isinstance(rows, str):
        rows = [rows]
    if not isinstance(rows, list):
        raise KhabarError(f"{REQUEST_NAME}: expected a list of texts or records")
    if all(isinstance(r, dict) for r in rows) and rows:
        return pd.DataFrame.from_records(rows)
    return pd.DataFrame({text_column: rows})


def predictions(model: Pipeline, frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The answer to a request: exactly the records `khabar predict` writes to JSONL.

    Parameters
    ----------
    model : Pipeline
        A trained khabar Pipeline.
    frame : DataFrame
        The request's rows, as `request_frame` returns them.

    Returns
    -------
    list of dict
        One JSON-ready record per row (see `khabar.runs.predict.predict_frame`).

    Raises
    ------
    KhabarError
        The rows lack a column the model reads, or a cell is not a text.
    """
    if frame.empty:
        return []
    return json_records(predict_frame(model, frame, REQUEST_NAME))


def explanations(
    explainer: Explainer, frame: pd.DataFrame, *, top: int = 10, labels: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """The answer to POST /explain: exactly the rows `khabar explain` writes to JSONL.

    Parameters
    ----------
    explainer : Explainer
        The served model's explainer.
    frame : DataFrame
        The request's rows, as `request_frame` returns them.
    top : int, default=10
        Features listed per label (0: all), from the query (``?top=5``).
    labels : sequence of str, default=()
        Labels to explain besides the predicted one (``?label=security``, repeatable).

    Returns
    -------
    list of dict
        One JSON-ready row per request row (see `khabar.runs.explain.explanation_rows`).

    Raises
    ------
    KhabarError
        A negative `top`, a label the model lacks, rows without a column the model reads.
    """
    if top < 0:
        raise KhabarError(f"{REQUEST_NAME}: top must be 0 (all features) or more")
    if frame.empty:
        return []
    explained = explain_frame(explainer, frame, REQUEST_NAME, labels=labels)
    return explanation_rows(explainer, frame, explained, top=top, id_column="id")


class _Handler(BaseHTTPRequestHandler):
    server: _ModelServer
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle's algorithm the second waits for the
    # client's delayed ACK, adding ~40 ms to every small request on a kept-alive connection.
    disable_nagle_algorithm = True

    def _reply(self, status: HTTPStatus, payload: Any) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: HTTPStatus, message: str) -> None:
        self._reply(status, {"error_code": status.name, "message": message})

    def do_GET(self) -> None:
        if self.path in ("/ping", "/health"):
            self._reply(HTTPStatus.OK, {"status": "ok"})
        elif self.path == "/version":
            self._reply(HTTPStatus.OK, self.server.description)
        else:
            self._error(HTTPStatus.NOT_FOUND, f"no such path {self.path}; POST /invocations")

    def _body(self) -> bytes | None:
        """The request body; None (after an error reply) when its length is unusable."""
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY_BYTES:
            self.close_connection = True
            self._error(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"body must be 0..{MAX_BODY_BYTES} bytes with a Content-Length",
            )
            return None
        return self.rfile.read(length)

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        if url.path not in ("/invocations", "/explain"):
            self.close_connection = True  # the body is not read: it must not pass for a request
            self._error(
                HTTPStatus.NOT_FOUND, f"no such path {self.path}; POST /invocations or /explain"
            )
            return
        body = self._body()
        if body is None:
            return
        content_type = self.headers.get("Content-Type", "application/json")
        try:
            frame = request_frame(body, content_type, self.server.text_column)
            if url.path == "/explain":
                self._reply(HTTPStatus.OK, {"explanations": self._explain(frame, url.query)})
                return
            rows = predictions(self.server.model, frame)
            empty = sum(row.get("reason") is not None for row in rows)
            if empty:  # as khabar predict does: one line with the count
                print(
                    f"khabar: warning: request: {empty} of {len(rows)} rows have no text: "
                    "prediction null, the reason field says why",
                    file=sys.stderr,
                )
            self._reply(HTTPStatus.OK, {"predictions": rows})
        except (KhabarError, ValueError, TypeError) as exc:
            self._error(HTTPStatus.BAD_REQUEST, str(exc))
        except Exception as exc:  # the server stays up; the caller learns what failed
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR, f"{type(exc).__name__}: {exc}")

    def _explain(self, frame: pd.DataFrame, query: str) -> list[dict[str, Any]]:
        options = parse_qs(query)
        try:
            top = int(options.get("top", ["10"])[-1])
        except ValueError:
            raise KhabarError(f"{REQUEST_NAME}: top must be a whole number") from None
        return explanations(
            self.server.explainer(), frame, top=top, labels=options.get("label", [])
        )


class _ModelServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], model: Pipeline, source: str) -> None:
        super().__init__(address, _Handler)
        self.model = model
        self._explainer: Explainer | None = None
        self.text_column = model.named_steps["normalize"].text_column
        self.description = {
            "model": source,
            "labels": class_labels(model),
            "multi_label": is_multi_label(model),
            "text_column": self.text_column,
            "versions": running_versions(),
        }

    def explainer(self) -> Explainer:
        """The model's explainer, made at the first /explain request (feature names and
        weights are read once, not per request)."""
        if self._explainer is None:
            self._explainer = Explainer(self.model)
        return self._explainer


def make_server(model_uri: str, host: str = "127.0.0.1", port: int = 8080) -> _ModelServer:
    """A server for a model on host:port, not yet serving.

    Parameters
    ----------
    model_uri : str
        An MLflow model URI or a model folder, loaded under khabar's trust policy.
    host : str, default "127.0.0.1"
        The address to bind.
    port : int, default 8080
        The port; 0: any free port (see the server's `server_address`).

    Returns
    -------
    ThreadingHTTPServer
        The bound server; `serve_forever` starts it.

    Raises
    ------
    KhabarError
        The model cannot be loaded, or the address cannot be bound.
    """
    model = load_model(model_uri)
    warm_up(model)
    try:
        return _ModelServer((host, port), model, model_uri)
    except OSError as exc:
        raise KhabarError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def warm_up(model: Pipeline) -> None:
    """Predict one made-up row, so one-time costs (compiled kernels, lookup tables, lazy
    imports) are paid before the port opens: once /ping answers, requests are fast.

    Parameters
    ----------
    model : Pipeline
        The loaded model.
    """
    normalize = model.named_steps["normalize"]
    columns = [normalize.text_column, *getattr(normalize, "keep_columns", ())]
    predictions(model, pd.DataFrame([dict.fromkeys(columns, "نص")]))


def is_loopback(host: str) -> bool:
    """Whether a bind address is reachable from this machine only.

    Parameters
    ----------
    host : str
        A host name or IP address.

    Returns
    -------
    bool
        True for "localhost" and loopback addresses (127.0.0.0/8, ::1).
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(model_uri: str, host: str = "127.0.0.1", port: int = 8080) -> None:
    """Serve a model over HTTP until Ctrl-C: POST /invocations, /explain, GET /ping, /health,
    /version.

    A host other than a loopback address gets a warning: there is no authentication.

    Parameters
    ----------
    model_uri : str
        An MLflow model URI or a model folder.
    host : str, default "127.0.0.1"
        The address to bind.
    port : int, default 8080
        The port; 0: any free port.

    Raises
    ------
    KhabarError
        The model cannot be loaded, or the address cannot be bound.
    """
    server = make_server(model_uri, host, port)
    bound_host, bound_port = server.server_address[:2]
    if not is_loopback(host):
        print(
            f"warning: listening on {host}: anyone who can reach it can call the model "
            "(there is no authentication); put it behind a proxy that authenticates",
            file=sys.stderr,
        )
    print(
        f"serving {model_uri} on http://{bound_host}:{bound_port}/invocations "
        f"(labels {class_labels(server.model)}); Ctrl-C stops it",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopped")
    finally:
        server.server_close()
