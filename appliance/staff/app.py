"""The console web app: `create_app` builds it over one `ConsoleContext`, with the web layer's
handlers, sign-in and live routes (`staff.web`) and every page and API module mounted. The
messages, tasks and treatments pages need the pack and are mounted by `staff.console`."""

from __future__ import annotations

from fastapi import FastAPI

from appliance.staff.api import register_api
from appliance.staff.bodylimit import BodyLimit
from appliance.staff.export import Exporter
from appliance.staff.golive_pages import register_golive
from appliance.staff.html import set_pack_banner
from appliance.staff.pages import register_pages
from appliance.staff.shadow_pages import register_shadow
from appliance.staff.testcall import register_testcall
from appliance.staff.web import ConsoleContext, auth_routes, install_handlers, live_routes


def create_app(ctx: ConsoleContext) -> FastAPI:
    app = FastAPI(title="Clinic appliance staff console", version="1", openapi_url=None, docs_url=None,
                  redoc_url=None)
    ctx.exporter = ctx.exporter or Exporter(ctx.repo)
    app.state.ctx = ctx
    set_pack_banner(ctx.golive.status if ctx.golive is not None else None)
    install_handlers(app)
    app.add_middleware(BodyLimit)  # outermost of the app's own middleware: bodies are bounded before auth
    auth_routes(app)
    live_routes(app)
    register_api(app)
    register_pages(app)
    register_testcall(app)
    if ctx.golive is not None:
        register_golive(app)
    register_shadow(app)  # shadow calls (SIPREC): clinicians read what the appliance would have done
    return app
