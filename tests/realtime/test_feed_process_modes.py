"""``start_price_feed`` refuses clearly where a separate feed cannot work."""

import pytest
from django.core.management import CommandError, call_command

from tests.servers import free_port

# The command checks the symbols and the source before the broker, so it reads assets.
pytestmark = pytest.mark.django_db(transaction=True)


def test_memory_broker_explains_the_embedded_feed_and_how_to_use_redis(settings):
    settings.TICKWIRE_BROKER_URL = "memory://"
    with pytest.raises(CommandError) as err:
        call_command("start_price_feed")
    text = str(err.value)
    assert "runs its own price feed" in text
    assert "TICKWIRE_BROKER_URL=redis://" in text


def test_unreachable_redis_is_a_clear_error_not_a_traceback(settings):
    settings.TICKWIRE_BROKER_URL = f"redis://127.0.0.1:{free_port()}/0"
    with pytest.raises(CommandError) as err:
        call_command("start_price_feed")
    assert "cannot reach Redis" in str(err.value)
    assert "TICKWIRE_BROKER_URL" in str(err.value)
