"""Teams: who may do what in a project.

Roles per project (``memberships``): *annotator* labels and changes only their own decisions;
*reviewer* may also undo or change anyone's, adjudicate, export and run Compare on the project;
*owner* may also change the project's settings, label set, guidelines, name, archive state and
members, and delete it.

Where a login is configured (the server's ``Settings.login_required``, never a caller's flag),
every action in a project needs a logged-in member with the role for it: someone logged in who
is not a member may do nothing in the project, but may create a project, which they then own;
nobody logged in may do anything. Without a login the app runs in *trust mode*: a typed name,
no role checks. The command line acts as the database's operator: its store never requires a
login.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from annotator.errors import PermissionDeniedError, ProtolabelError
from annotator.store import queries
from annotator.store.db import Store
from annotator.store.models import Membership, Project

ROLES = ("annotator", "reviewer", "owner")
#: Each role may do what the roles before it may.
_RANK = {role: i for i, role in enumerate(ROLES)}


@dataclass(frozen=True)
class Identity:
    """Who acts: a logged-in user (roles enforced), a typed name (trust mode), or the server
    itself (``OPERATOR``: the demo it creates)."""

    name: str
    authenticated: bool
    operator: bool = False


#: The server acting on its own behalf (never a person in the browser).
OPERATOR = Identity("protolabel", authenticated=False, operator=True)


def role_of(session: Session, project_id: int, user: str) -> str | None:
    """The user's role in the project; None when they are not a member."""
    member = queries.membership(session, project_id, user)
    return member.role if member is not None else None


def at_least(role: str | None, needed: str) -> bool:
    return role is not None and _RANK[role] >= _RANK[needed]


def authorize(
    session: Session,
    project: Project,
    who: Identity | None,
    needed: str,
    *,
    login_required: bool,
    action: str,
) -> None:
    """Raise ``PermissionDeniedError`` unless ``who`` may do ``action``, which needs the role
    ``needed``, in ``project``. Trust mode (``login_required`` false) lets anyone through."""
    if not login_required or (who is not None and who.operator):
        return
    if who is None or not who.authenticated:
        raise PermissionDeniedError(f"log in to {action}")
    role = role_of(session, project.id, who.name)
    if role is None:
        raise PermissionDeniedError(
            f"{who.name!r} is not a member of {project.name!r}: an owner can add you"
        )
    if not at_least(role, needed):
        allowed = "owners" if needed == "owner" else f"{needed}s and owners"
        raise PermissionDeniedError(
            f"{who.name!r} is {_article(role)} {role} in {project.name!r}: only {allowed} may "
            f"{action}"
        )


def require(
    store: Store, session: Session, project: Project, who: Identity | None, needed: str, action: str
) -> None:
    """``authorize`` in the server's login mode (``store.settings.login_required``)."""
    authorize(
        session, project, who, needed, login_required=store.settings.login_required, action=action
    )


def may(
    store: Store, session: Session, project: Project, who: Identity | None, needed: str
) -> bool:
    """Whether ``require`` would let ``who`` through (for what a page lists or offers)."""
    try:
        require(store, session, project, who, needed, "act")
    except PermissionDeniedError:
        return False
    return True


def check_may_change(
    session: Session,
    project: Project,
    user: str,
    decided_by: str,
    *,
    authenticated: bool,
    login_required: bool = False,
) -> None:
    """A member may undo or change their own decisions; reviewers and owners anyone's."""
    who = Identity(user, authenticated)
    if not authenticated and not login_required:
        return
    needed = "annotator" if user == decided_by else "reviewer"
    authorize(
        session, project, who, needed, login_required=True,
        action=f"change {decided_by!r}'s decisions",
    )  # fmt: skip


def check_owner(
    session: Session,
    project: Project,
    user: str | None,
    *,
    authenticated: bool,
    login_required: bool = False,
) -> None:
    """Only an owner may change a project's settings or members."""
    if not authenticated and not login_required:
        return
    authorize(
        session, project, Identity(user or "", authenticated), "owner", login_required=True,
        action="change the project's settings and members",
    )  # fmt: skip


def _article(role: str) -> str:
    return "an" if role[0] in "aeiou" else "a"


def add_creator(session: Session, project: Project, who: Identity | None) -> None:
    """A logged-in user who creates a project owns it (call in the creating transaction)."""
    if who is not None and who.authenticated:
        session.add(Membership(project_id=project.id, user=who.name, role="owner"))


def require_login(who: Identity | None, *, login_required: bool, action: str) -> None:
    """For actions outside any project (creating one): in login mode, someone logged in."""
    if login_required and not (who is not None and (who.authenticated or who.operator)):
        raise PermissionDeniedError(f"log in to {action}")


def set_role(
    store: Store,
    project_name: str,
    user: str,
    role: str | None,
    *,
    by: str | None = None,
    authenticated: bool = False,
) -> None:
    """Give ``user`` a role in the project; ``role=None`` removes the membership.

    An ``authenticated`` caller must be an owner, and may not remove or demote the project's
    last owner (nobody logged in could manage its members after that). Trust mode and the
    command line may: roles do not apply to them, and the command line can name a new owner.
    """
    user = (user or "").strip()
    if not user or len(user) > 200:
        raise ProtolabelError("a user name must have 1 to 200 characters")
    if role is not None and role not in ROLES:
        raise ProtolabelError(f"unknown role {role!r} (choose {', '.join(ROLES)})")
    with store.write() as session:
        project = queries.get_project(session, project_name)
        check_owner(
            session, project, by, authenticated=authenticated,
            login_required=store.settings.login_required,
        )  # fmt: skip
        member = queries.membership(session, project.id, user)
        if authenticated and member is not None and member.role == "owner" and role != "owner":
            _check_not_last_owner(session, project, user)
        if role is None:
            if member is not None:
                session.delete(member)
        elif member is None:
            session.add(Membership(project_id=project.id, user=user, role=role))
        else:
            member.role = role
        queries.log_event(session, project.id, "membership", user=user, role=role, by=by)


def _check_not_last_owner(session: Session, project: Project, user: str) -> None:
    # FOR UPDATE on the owners' rows (PostgreSQL): two owners demoting each other at once
    # run one after the other, and the second sees one owner left. SQLite has one writer.
    if queries.owners_for_update(session, project.id) == [user]:
        raise PermissionDeniedError(
            f"{user!r} is the last owner of {project.name!r}: make someone else an owner first"
        )


def members(store: Store, project_name: str) -> list[tuple[str, str]]:
    """(user, role) of the project's members, by name."""
    with store.read() as session:
        project = queries.get_project(session, project_name)
        return [(m.user, m.role) for m in queries.memberships(session, project.id)]


def role_in(store: Store, project_name: str, user: str) -> str | None:
    with store.read() as session:
        project = queries.get_project(session, project_name)
        return role_of(session, project.id, user)


#: OIDC claims tried in order for a logged-in user's name: the e-mail (unless the provider
#: says it is unverified), else the subject. Not ``name`` or ``preferred_username``: many
#: providers let people edit those, and roles are granted to the name.
NAME_CLAIMS = ("email", "sub")


def identity(
    *, logged_in: bool, claims: dict | None = None, typed_name: str = ""
) -> Identity | None:
    """The labelling identity: from the OIDC claims when logged in, else the typed name
    (trust mode); None when there is neither."""
    if logged_in:
        found = claims or {}
        for key in NAME_CLAIMS:
            value = str(found.get(key) or "").strip()
            if key == "email" and found.get("email_verified") is False:
                continue
            if value:
                return Identity(value[:200], authenticated=True)
        return None
    name = (typed_name or "").strip()
    return Identity(name[:200], authenticated=False) if name else None
