"""Partitioned CRLs and signed audit checkpoints (issue 13).

- ``certificates.crl_partition``: the CRL partition an end-entity certificate's CRL distribution
  point names (/crl/<ca>/<partition>.crl); NULL for certificates that name the CA's full CRL
  (/crl/<ca>.crl: CA certificates, and everything issued before partitions).
- ``crls.partition``: which CRL a row is: NULL for the CA's full CRL (or ARL), else the partition.
- ``audit_checkpoints``: the audit chain's (sequence number, hash, time), signed with the audit key
  in the CA token.

Revision ID: 0008
Revises: 0007
"""
from alembic import op
import sqlalchemy as sa

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('certificates') as batch:
        batch.add_column(sa.Column('crl_partition', sa.String(length=32), nullable=True))
    op.create_index('ix_certificates_partition', 'certificates', ['ca_id', 'crl_partition', 'status'])
    with op.batch_alter_table('crls') as batch:
        batch.add_column(sa.Column('partition', sa.String(length=32), nullable=True))
    op.create_index('ix_crls_scope', 'crls', ['ca_id', 'partition', 'crl_number'])
    op.create_table(
        'audit_checkpoints',
        sa.Column('seq', sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column('hash', sa.String(length=64), nullable=False),
        sa.Column('time', sa.DateTime(), nullable=False),
        sa.Column('key_sha256', sa.String(length=64), nullable=False),
        sa.Column('signature', sa.LargeBinary(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table('audit_checkpoints')
    op.drop_index('ix_crls_scope', 'crls')
    with op.batch_alter_table('crls') as batch:
        batch.drop_column('partition')
    op.drop_index('ix_certificates_partition', 'certificates')
    with op.batch_alter_table('certificates') as batch:
        batch.drop_column('crl_partition')
