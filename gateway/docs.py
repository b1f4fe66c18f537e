"""The interactive API docs: a Swagger UI page over /openapi.json, its assets served locally.

The assets come from the `swagger-ui-py` wheel (a bundled swagger-ui-dist), so the page
loads nothing from a CDN.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

# Located, not imported: the package ships no type information and no code we need.
STATIC = Path(str(resources.files("swagger_ui"))) / "static"
# URL under /docs/ -> the file Envoy serves for it.
ASSETS: dict[str, Path] = {
    "swagger-ui-bundle.js": STATIC / "swagger-ui-bundle.js",
    "swagger-ui.css": STATIC / "swagger-ui.css",
}
CONTENT_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}

PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Blog API docs</title>
  <link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({
      url: "/openapi.json",
      dom_id: "#swagger-ui",
      deepLinking: true,
      persistAuthorization: true
    });
  </script>
</body>
</html>
"""
