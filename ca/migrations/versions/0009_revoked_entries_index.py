"""A partial index of revoked certificates that holds every column a CRL entry needs (issue 13):
a partition's entries are read from the index alone, never from the table's rows, so publishing
one partition reads that partition's revoked certificates and nothing else.

Revision ID: 0009
Revises: 0008
"""
from alembic import op
import sqlalchemy as sa

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

REVOKED = sa.text("status = 'revoked'")


def upgrade() -> None:
    op.create_index('ix_certificates_revoked_entries', 'certificates',
                    ['ca_id', 'crl_partition', 'serial_hex', 'revoked_at', 'revocation_reason', 'invalidity_date',
                     'status'], sqlite_where=REVOKED, postgresql_where=REVOKED)
    op.create_index('ix_certificates_partition_expiry', 'certificates', ['ca_id', 'crl_partition', 'not_after'])


def downgrade() -> None:
    op.drop_index('ix_certificates_partition_expiry', 'certificates')
    op.drop_index('ix_certificates_revoked_entries', 'certificates')
