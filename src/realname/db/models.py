"""Imports every domain's models so Alembic and the tests see the whole schema."""

from realname.backfill import models as backfill_models
from realname.channels import models as channels_models
from realname.db.base import Base
from realname.identity import models as identity_models
from realname.messaging import models as messaging_models
from realname.registry import models as registry_models
from realname.security import models as security_models
from realname.verification import models as verification_models

__all__ = [
    "Base",
    "backfill_models",
    "channels_models",
    "identity_models",
    "messaging_models",
    "registry_models",
    "security_models",
    "verification_models",
]
