"""Accounts: login and logout pages, API tokens, and ending live sessions on logout."""
