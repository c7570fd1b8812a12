"""The card reads' housekeeping: a reader's post purges its own channel's spent reads (the
desks of other channels never wait on its delete); the daily job purges them all."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from realname.policy.schema import ChannelKind
from realname.registry.cardreads.models import CardRead
from realname.registry.cardreads.repository import CardReadRepository
from tests.registry.conftest import NOW, World, china, keyring, world  # noqa: F401


def test_a_post_purges_its_own_channels_reads_and_the_daily_job_every_one(
    world: World,  # noqa: F811
) -> None:
    """Every post deleted every channel's used and expired reads: on PostgreSQL a reader
    waited on another channel's registration still holding the read it took."""
    repo = CardReadRepository(world.session)
    hall, social = world.channels[ChannelKind.OWN_HALL], world.channels[ChannelKind.SOCIAL]
    for n, channel in enumerate((hall, social)):
        repo.add(
            CardRead(
                public_id=f"{n:032d}",
                enterprise_id=world.enterprise_id,
                channel_id=channel,
                reader="r",
                key_id=None,
                data_sealed=None,
                read_at=NOW,
                expires_at=NOW + timedelta(minutes=5),
            )
        )
    world.session.flush()
    later = NOW + timedelta(minutes=10)  # both expired
    assert repo.purge(later, hall) == 1
    left = world.session.scalars(select(CardRead.channel_id)).all()
    assert left == [social]
    assert repo.purge(later) == 1  # the daily job: every channel
    assert world.session.scalars(select(CardRead.id)).all() == []
