"""The whole schema in one place: importing this module registers every domain's tables.

SQLAlchemy resolves a foreign key (`outbox_message.line_id` -> `line.id`) only when the
target table is on the same metadata; a process that imported just one domain's models
fails at its first flush with `NoReferencedTableError`. So every entry point (the CLI root,
the composition root's `Process`, which the app factory, the jobs and the SMS sender build, and
Alembic's environment) calls `load_all_models()` rather
than relying on whichever models its own imports happened to pull in. A new domain with
tables adds its import here.

It sits at the package root, beside the entry points, not in `db`: the database layer sits
below every domain and imports none of them.
"""

from sqlalchemy import MetaData

from realname.authority import models as authority_models
from realname.backfill import models as backfill_models
from realname.channels import models as channels_models
from realname.compliance.complaints import models as complaints_models
from realname.compliance.enforcement import models as enforcement_models
from realname.compliance.inspections import models as inspections_models
from realname.db.base import Base
from realname.messaging import models as messaging_models
from realname.national.feeds import models as national_feeds_models
from realname.national.index import models as national_index_models
from realname.national.lookup import models as national_lookup_models
from realname.possession import models as possession_models
from realname.provisioning import models as provisioning_models
from realname.registry import models as registry_models
from realname.registry.cardreads import models as card_reads_models
from realname.security import models as security_models
from realname.security import staff as staff_models
from realname.selfservice import models as selfservice_models
from realname.verification import models as verification_models

__all__ = [
    "Base",
    "authority_models",
    "backfill_models",
    "card_reads_models",
    "channels_models",
    "complaints_models",
    "enforcement_models",
    "inspections_models",
    "load_all_models",
    "messaging_models",
    "national_feeds_models",
    "national_index_models",
    "national_lookup_models",
    "possession_models",
    "provisioning_models",
    "registry_models",
    "security_models",
    "selfservice_models",
    "staff_models",
    "verification_models",
]


def load_all_models() -> MetaData:
    """The metadata with every table registered (the imports above did the work)."""
    return Base.metadata
