"""The application's shell pages: the home page (each module's panel), the health check and the language switch.

A module like the others (it declares its routes' permissions through `security.deps`); its templates
(`home.html`, `error.html`) and the static assets are the `web` presentation layer's.
"""
