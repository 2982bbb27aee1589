"""Who is labelling: OIDC claims when logged in, else a typed name (trust mode)."""

from annotator.teams import Identity, identity


def test_logged_in_users_are_named_by_their_claims() -> None:
    assert identity(logged_in=True, claims={"email": "a@x.org", "name": "A"}) == Identity(
        "a@x.org", authenticated=True
    )
    assert identity(logged_in=True, claims={"sub": "42"}) == Identity("42", authenticated=True)
    assert identity(logged_in=True, claims={}) is None


def test_claims_people_can_edit_never_name_them() -> None:
    """Roles are granted to the name: a display name or an unverified e-mail could be chosen
    to match a member's."""
    editable = {"name": "olga@x.org", "preferred_username": "olga@x.org", "sub": "u-9"}
    assert identity(logged_in=True, claims=editable) == Identity("u-9", authenticated=True)
    unverified = {"email": "olga@x.org", "email_verified": False, "sub": "u-9"}
    assert identity(logged_in=True, claims=unverified).name == "u-9"
    assert identity(logged_in=True, claims={"name": "olga"}) is None


def test_trust_mode_uses_the_typed_name_and_is_not_authenticated() -> None:
    assert identity(logged_in=False, typed_name="  bob ") == Identity("bob", authenticated=False)
    assert identity(logged_in=False, typed_name="   ") is None
    # a typed name never counts as a login, even if it looks like one
    assert not identity(logged_in=False, typed_name="owner@x.org").authenticated
