"""CVAT's ``/api/auth/*`` (login, logout, register) and ``/api/users/self`` over :class:`Accounts`."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cvat_serverless.gateway.auth import NOT_PROVIDED, Accounts
from cvat_serverless.gateway.errors import Forbidden, ValidationFailed
from cvat_serverless.gateway.http import both, json_body, read_body
from cvat_serverless.gateway.users import User

AUTH_BODY_LIMIT = 64 * 1024


def current_user(request: Request) -> User:
    """The authenticated user the middleware put on the request."""
    user = getattr(request.state, "user", None)
    assert isinstance(user, User), "the Authenticate middleware must run first"
    return user


@dataclass
class AuthApi:
    """Login (username or e-mail), logout (ends the session, deletes the token), register, self."""

    accounts: Accounts

    def _session_response(self, body: dict[str, object], user: User, status: int) -> Response:
        key, session, csrf = self.accounts.login(user)
        response = JSONResponse({**body, "key": key} if "key" in body else body, status_code=status)
        response.set_cookie("sessionid", session, httponly=True, samesite="lax")
        response.set_cookie("csrftoken", csrf, samesite="lax")
        return response

    async def login(self, request: Request) -> Response:
        data = json_body(await read_body(request, AUTH_BODY_LIMIT))
        login = data.get("username") or data.get("email")
        user = await run_in_threadpool(self.accounts.check_password, login, data.get("password"))
        if user is None:
            raise ValidationFailed({"non_field_errors": ["Unable to log in with provided credentials."]})
        return self._session_response({"key": ""}, user, 200)

    async def logout(self, request: Request) -> Response:
        # DRF authenticates before dj-rest-auth's LogoutView (AllowAny) runs: a session POST without its
        # CSRF token is a 403 and a bad key or password a 401; no credentials at all is a plain logout.
        found = self.accounts.authenticate(request)
        if isinstance(found, Forbidden):
            raise found
        if isinstance(found, str) and found != NOT_PROVIDED:
            return JSONResponse({"detail": found}, status_code=401)
        self.accounts.logout(request, found if isinstance(found, User) else None)
        response = JSONResponse({"detail": "Successfully logged out."})
        response.delete_cookie("sessionid")
        return response

    async def register(self, request: Request) -> Response:
        data = json_body(await read_body(request, AUTH_BODY_LIMIT))
        users = self.accounts.users
        fields = await run_in_threadpool(users.validate_new, data)
        user = await run_in_threadpool(users.create, fields, "user")
        body = {
            "username": user.username,
            "email": user.email,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "email_verification_required": False,
            "key": "",
        }
        return self._session_response(body, user, 201)

    async def self_user(self, request: Request) -> Response:
        user = current_user(request)
        base = str(request.base_url).rstrip("/")
        return JSONResponse(
            {
                **user.basic(base),
                "email": user.email,
                "groups": [user.role],
                "is_staff": user.is_admin,
                "is_superuser": user.is_admin,
                "is_active": True,
                "last_login": None,
                "date_joined": user.date_joined,
                "has_analytics_access": user.is_admin,
            }
        )

    def routes(self) -> list[Route]:
        return [
            *[Route(p, self.login, methods=["POST"]) for p in both("/api/auth/login")],
            *[Route(p, self.logout, methods=["POST"]) for p in both("/api/auth/logout")],
            *[Route(p, self.register, methods=["POST"]) for p in both("/api/auth/register")],
            *[Route(p, self.self_user) for p in both("/api/users/self")],
        ]
