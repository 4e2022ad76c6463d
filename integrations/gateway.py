"""The inbound HTTP service (`xueliang gateway`). Stateless: every replica talks to the same database."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import text

from models.db import Database
from models.settings import Settings


def create_app(settings: Settings, db: Database | None = None) -> FastAPI:
    database = db or Database(settings.database_url)
    app = FastAPI(title="Xueliang gateway", version="0.1.0")
    app.state.db = database
    app.state.settings = settings

    @app.get("/healthz")
    def healthz() -> Any:
        try:
            with database.read() as session:
                session.execute(text("SELECT 1"))
        except Exception as exc:  # the database is down or unreachable: say so, do not crash
            return JSONResponse({"status": "down", "error": type(exc).__name__}, status_code=503)
        return {"status": "ok"}

    return app


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8000) -> None:
    import uvicorn

    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")
