"""A real loopback server for the OpenAI Files and Batches APIs, faithful enough for the openai
SDK: ``files.create`` (multipart, purpose batch), ``files.content``, ``batches.create``,
``batches.retrieve``, ``batches.list`` and ``batches.cancel``.  A batch's requests are sent, one
by one, to a real completion backend (the fault server, or any OpenAI-compatible URL) without
streaming, and its output and error files are written in the batch output format.

Misbehaviour on request (attributes, set before the call they affect):
  fail_validation = True   the next batch fails validation (status failed, errors.data)
  expire_after = N         the next batch expires after N requests; the rest are error lines
                           with code batch_expired
  error_every = N          every N-th request of a batch is an error line (HTTP 500 body)
  upload_429 = N           the next N uploads get 429 (Retry-After: 0)
  retrieve_500 = N         the next N batches.retrieve calls get 500
  create_delay = S         batches.create makes the batch, then waits S seconds before answering
  hold = True              batches stay in_progress until ``release()``
  forget(batch_id)         the batch is no longer known (404)

``with BatchServer(backend_url) as bs: bs.url``; every batch in ``bs.batches``; every call in
``bs.calls`` as (method, path).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

ENDED = ("completed", "failed", "expired", "cancelled")


class BatchServer:
    def __init__(self, backend: str) -> None:
        self.backend = backend.rstrip("/")
        self.files: dict[str, dict[str, Any]] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []
        self.fail_validation = False
        self.expire_after: int | None = None
        self.error_every: int | None = None
        self.upload_429 = 0
        self.retrieve_500 = 0
        self.create_delay = 0.0
        self.hold = False
        self._forgotten: set[str] = set()
        self._released = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    # -- control --------------------------------------------------------------------------
    def forget(self, batch_id: str) -> None:
        self._forgotten.add(batch_id)

    def release(self) -> None:
        self.hold = False
        self._released.set()

    def wait_all(self, timeout: float = 30) -> None:
        for t in list(self._threads):
            t.join(timeout)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._srv.server_address[1]}/v1"

    def __enter__(self) -> "BatchServer":
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a: Any) -> None:
                pass

            def do_GET(self) -> None:
                server._route(self, "GET")

            def do_POST(self) -> None:
                server._route(self, "POST")

        self._srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._srv.daemon_threads = True
        self._srv.handle_error = lambda *a: None  # a client killed mid-answer (the crash test)
        threading.Thread(target=self._srv.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
        self._srv.shutdown()
        self._srv.server_close()

    # -- HTTP -------------------------------------------------------------------------------
    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, body: Any, raw: bytes | None = None,
              extra: dict[str, str] | None = None) -> None:
        data = raw if raw is not None else json.dumps(body).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/octet-stream" if raw is not None
                      else "application/json")
        h.send_header("Content-Length", str(len(data)))
        for k, v in (extra or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(data)

    def _error(self, h: BaseHTTPRequestHandler, status: int, message: str,
               extra: dict[str, str] | None = None) -> None:
        self._send(h, status, {"error": {"message": message, "type": "invalid_request_error",
                                         "param": None, "code": None}}, extra=extra)

    def _route(self, h: BaseHTTPRequestHandler, method: str) -> None:
        path = h.path.split("?", 1)[0].rstrip("/")
        n = int(h.headers.get("content-length") or 0)
        raw = h.rfile.read(n) if n else b""
        self.calls.append((method, path))
        parts = path.split("/")[2:]  # after /v1
        if method == "POST" and parts == ["files"]:
            return self._upload(h, raw)
        if method == "GET" and len(parts) == 3 and parts[0] == "files" and parts[2] == "content":
            f = self.files.get(parts[1])
            if f is None:
                return self._error(h, 404, f"No such File object: {parts[1]}")
            return self._send(h, 200, None, raw=f["data"])
        if method == "POST" and parts == ["batches"]:
            return self._create(h, json.loads(raw or b"{}"))
        if method == "GET" and parts == ["batches"]:
            data = [b for b in self.batches.values() if b["id"] not in self._forgotten]
            return self._send(h, 200, {"object": "list", "data": data[::-1], "has_more": False,
                                       "first_id": None, "last_id": None})
        if parts and parts[0] == "batches" and len(parts) >= 2:
            b = self.batches.get(parts[1])
            if b is None or parts[1] in self._forgotten:
                return self._error(h, 404, f"No batch found with id '{parts[1]}'.")
            if method == "GET" and len(parts) == 2:
                if self.retrieve_500 > 0:
                    self.retrieve_500 -= 1
                    return self._error(h, 500, "The server had an error processing your request.")
                return self._send(h, 200, b)
            if method == "POST" and parts[2:] == ["cancel"]:
                if b["status"] not in ENDED:
                    b["status"] = "cancelling"
                    b["cancelling_at"] = int(time.time())
                    self._released.set()
                return self._send(h, 200, b)
        self._error(h, 404, f"no route {method} {path}")

    def _upload(self, h: BaseHTTPRequestHandler, raw: bytes) -> None:
        if self.upload_429 > 0:
            self.upload_429 -= 1
            return self._error(h, 429, "Too many uploads; slow down.", {"Retry-After": "0"})
        ctype = h.headers.get("content-type", "")
        boundary = ctype.split("boundary=", 1)[-1].strip('"').encode()
        fields: dict[str, tuple[str, bytes]] = {}
        for chunk in raw.split(b"--" + boundary):
            if b"\r\n\r\n" not in chunk:
                continue
            head, _, body = chunk.partition(b"\r\n\r\n")
            head_s = head.decode("latin-1")
            name = head_s.split('name="', 1)[-1].split('"', 1)[0]
            fname = head_s.split('filename="', 1)[-1].split('"', 1)[0] if "filename=" in head_s \
                else ""
            fields[name] = (fname, body[:-2] if body.endswith(b"\r\n") else body)
        if "file" not in fields or fields.get("purpose", ("", b""))[1] != b"batch":
            return self._error(h, 400, "a file and purpose=batch are required")
        fid = "file-" + uuid.uuid4().hex[:16]
        fname, data = fields["file"]
        self.files[fid] = {"data": data, "meta": {
            "id": fid, "object": "file", "bytes": len(data), "created_at": int(time.time()),
            "filename": fname or "upload.jsonl", "purpose": "batch", "status": "processed"}}
        self._send(h, 200, self.files[fid]["meta"])

    def _create(self, h: BaseHTTPRequestHandler, req: dict[str, Any]) -> None:
        fid = req.get("input_file_id")
        if fid not in self.files:
            return self._error(h, 400, f"No such File object: {fid}")
        bid = "batch_" + uuid.uuid4().hex[:16]
        now = int(time.time())
        b = {"id": bid, "object": "batch", "endpoint": req.get("endpoint"), "errors": None,
             "input_file_id": fid, "completion_window": req.get("completion_window", "24h"),
             "status": "validating", "output_file_id": None, "error_file_id": None,
             "created_at": now, "in_progress_at": None, "expires_at": now + 86400,
             "completed_at": None, "failed_at": None, "expired_at": None,
             "cancelling_at": None, "cancelled_at": None, "finalizing_at": None,
             "request_counts": {"total": 0, "completed": 0, "failed": 0},
             "metadata": req.get("metadata")}
        with self._lock:
            self.batches[bid] = b
        mode = {"fail": self.fail_validation, "expire": self.expire_after,
                "every": self.error_every}
        self.fail_validation, self.expire_after = False, None
        t = threading.Thread(target=self._process, args=(b, mode), daemon=True)
        self._threads.append(t)
        t.start()
        if self.create_delay:
            time.sleep(self.create_delay)
        self._send(h, 200, b)

    # -- processing -------------------------------------------------------------------------
    def _process(self, b: dict[str, Any], mode: dict[str, Any]) -> None:
        lines = self.files[b["input_file_id"]]["data"].decode().splitlines()
        if mode["fail"]:
            b.update(status="failed", failed_at=int(time.time()), errors={
                "object": "list", "data": [{"code": "invalid_request", "line": 1,
                                            "message": "The batch failed validation: "
                                            "model not available for batch", "param": "body.model"}]})
            return
        reqs = [json.loads(x) for x in lines if x.strip()]
        b["request_counts"]["total"] = len(reqs)
        b.update(status="in_progress", in_progress_at=int(time.time()))
        out, err = [], []
        with httpx.Client(timeout=30) as http:
            for i, r in enumerate(reqs):
                while self.hold and b["status"] == "in_progress":
                    self._released.wait(0.05)
                if b["status"] == "cancelling":
                    break
                line = {"id": f"batch_req_{uuid.uuid4().hex[:12]}", "custom_id": r["custom_id"]}
                if mode["expire"] is not None and i >= mode["expire"]:
                    err.append({**line, "response": None, "error": {
                        "code": "batch_expired", "message": "This request could not be executed "
                        "before the completion window expired."}})
                    continue
                if mode["every"] and (i + 1) % mode["every"] == 0:
                    err.append({**line, "response": {"status_code": 500, "request_id": "req_x",
                                "body": {"error": {"message": "The server had an error while "
                                         "processing your request.", "type": "server_error"}}},
                                "error": None})
                    b["request_counts"]["failed"] += 1
                    continue
                resp = http.post(self.backend + r["url"].removeprefix("/v1"), json=r["body"])
                line["response"] = {"status_code": resp.status_code, "request_id": "req_x",
                                    "body": resp.json()}
                line["error"] = None
                (out if resp.status_code == 200 else err).append(line)
                b["request_counts"]["completed" if resp.status_code == 200 else "failed"] += 1
        now = int(time.time())
        for kind, rows in (("output_file_id", out), ("error_file_id", err)):
            if rows:
                fid = "file-" + uuid.uuid4().hex[:16]
                data = "".join(json.dumps(x) + "\n" for x in rows).encode()
                self.files[fid] = {"data": data, "meta": {"id": fid}}
                b[kind] = fid
        if b["status"] == "cancelling":
            b.update(status="cancelled", cancelled_at=now)
        elif mode["expire"] is not None:
            b.update(status="expired", expired_at=now)
        else:
            b.update(status="completed", completed_at=now, finalizing_at=now)
