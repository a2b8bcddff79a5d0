"""The HTTP service: ``service.app.create_app`` (FastAPI factory) and ``service.app.serve``
(uvicorn), with dynamic batching, limits from ``STANCE_*`` variables and the analyst page."""
