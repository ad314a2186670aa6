"""Sign-in for staff and marketers (django-allauth), with sign-up closed.

Accounts are made by staff: superusers in the admin, or
`integrations.services.user_create_marketer`. Nobody can create one from
the sign-in pages, so nobody can learn from a sign-up form which emails
belong to staff.
"""

from allauth.account.adapter import DefaultAccountAdapter


class StaffOnlyAccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request) -> bool:
        return False
