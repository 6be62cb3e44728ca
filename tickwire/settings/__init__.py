"""Settings per environment: ``local`` (embedded default), ``production``, ``test``.

All of them read environment variables (and an optional ``.env``) through
:mod:`tickwire.env`, which names the variable whenever a value is wrong.
"""
