"""Imported last by `rectify serve`'s fork server (flows/serve_runner.py PRELOAD): the work every
forked run would otherwise redo, done once before the first fork.

Each resumed item run is a fork of that server, so whatever the server has built its children
inherit, copy-on-write: here the email templates compiled (Jinja compiles a template on first
use, per process: an item run renders its step's notice) and the ORM's mappers configured (done
on the first query, per process). Nothing here opens a file handle, a connection or a thread
that a fork could share by mistake: templates and mappers are plain Python objects.
"""

from __future__ import annotations

from sqlalchemy.orm import configure_mappers

import models  # noqa: F401  (the mapped classes)
from notifications.compose import environment

configure_mappers()
_env = environment()
for _name in _env.list_templates():
    _env.get_template(_name)
