"""The HTTP service: ``stance.service.app.create_app`` (FastAPI factory) and ``stance.service.app.serve``
(uvicorn), with dynamic batching, limits from ``STANCE_*`` variables and the analyst page."""
