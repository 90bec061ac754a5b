"""catalogue, activity log, dumps and state

Revision ID: 0001
Revises:
Create Date: 2026-11-27 02:59:30.057500
"""

# Longer than 400 lines because a migration is history: it stays as it was first released.

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


SEARCH_DOCUMENT = (
    "coalesce(name, '') || ' ' || coalesce(tagline, '') || ' ' || coalesce(description, '')"
)


def upgrade() -> None:

    op.create_table(
        "access_modes",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("pid", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_modes")),
    )
    op.create_table(
        "access_types",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("pid", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_types")),
    )
    op.create_table(
        "catalog_dumps",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("byte_size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=True),
        sa.Column(
            "counts",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_dumps")),
    )
    op.create_table(
        "categories",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("pid", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_categories")),
    )
    op.create_table(
        "life_cycle_statuses",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("pid", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_life_cycle_statuses")),
    )
    op.create_table(
        "platforms",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("pid", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_platforms")),
    )
    op.create_table(
        "providers",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("pid", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_providers")),
    )
    op.create_table(
        "recommendations",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("unique_id", sa.String(length=255), nullable=False),
        sa.Column("visit_id", sa.String(length=255), nullable=True),
        sa.Column("page_id", sa.Text(), nullable=False),
        sa.Column("panel_id", sa.String(length=16), nullable=False),
        sa.Column("client_id", sa.String(length=32), nullable=True),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column("aai_uid", sa.String(length=255), nullable=True),
        sa.Column("engine_requested", sa.String(length=64), nullable=True),
        sa.Column("engine", sa.String(length=64), nullable=False),
        sa.Column("model_version", sa.Integer(), nullable=True),
        sa.Column("catalog_version", sa.BigInteger(), nullable=False),
        sa.Column(
            "search_data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "candidates",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("candidate_count", sa.Integer(), nullable=False),
        sa.Column(
            "service_ids",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "scores",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recommendations")),
    )
    with op.batch_alter_table("recommendations", schema=None) as batch_op:
        batch_op.create_index("ix_recommendations_created_at", ["created_at"], unique=False)
        batch_op.create_index("ix_recommendations_user_id", ["user_id"], unique=False)
        batch_op.create_index(
            "ix_recommendations_visit_panel", ["visit_id", "panel_id"], unique=False
        )

    op.create_table(
        "research_steps",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("pid", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_research_steps")),
    )
    op.create_table(
        "scientific_domains",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("pid", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scientific_domains")),
    )
    op.create_table(
        "state",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_state")),
    )
    op.create_table(
        "target_users",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("pid", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_target_users")),
    )
    op.create_table(
        "trls",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("pid", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trls")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("aai_uid", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("aai_uid", name=op.f("uq_users_aai_uid")),
    )
    op.create_table(
        "projects",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_projects_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_projects")),
    )
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_projects_user_id"), ["user_id"], unique=False)

    op.create_table(
        "services",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("tagline", sa.Text(), nullable=False),
        sa.Column(
            "countries",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("order_type", sa.String(length=64), nullable=True),
        sa.Column("rating", sa.Float(), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("pid", sa.String(length=255), nullable=True),
        sa.Column("horizontal", sa.Boolean(), nullable=True),
        sa.Column("resource_organisation_id", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["resource_organisation_id"],
            ["providers.id"],
            name=op.f("fk_services_resource_organisation_id_providers"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_services")),
    )
    with op.batch_alter_table("services", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_services_status"), ["status"], unique=False)

    op.create_table(
        "user_actions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("unique_id", sa.String(length=255), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column("aai_uid", sa.String(length=255), nullable=True),
        sa.Column("client_id", sa.String(length=32), nullable=True),
        sa.Column("source_visit_id", sa.String(length=255), nullable=True),
        sa.Column("source_page_id", sa.Text(), nullable=False),
        sa.Column("root_type", sa.String(length=64), nullable=True),
        sa.Column("root_panel_id", sa.String(length=64), nullable=True),
        sa.Column("root_service_id", sa.BigInteger(), nullable=True),
        sa.Column("root_resource_type", sa.String(length=64), nullable=True),
        sa.Column("root_resource_id", sa.String(length=255), nullable=True),
        sa.Column("target_visit_id", sa.String(length=255), nullable=False),
        sa.Column("target_page_id", sa.Text(), nullable=False),
        sa.Column("action_type", sa.String(length=255), nullable=False),
        sa.Column("action_text", sa.Text(), nullable=False),
        sa.Column("is_order", sa.Boolean(), nullable=False),
        sa.Column("service_id", sa.BigInteger(), nullable=True),
        sa.Column("recommendation_id", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["recommendation_id"],
            ["recommendations.id"],
            name=op.f("fk_user_actions_recommendation_id_recommendations"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_actions")),
    )
    with op.batch_alter_table("user_actions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_user_actions_recommendation_id", ["recommendation_id"], unique=False
        )
        batch_op.create_index("ix_user_actions_source_visit_id", ["source_visit_id"], unique=False)
        batch_op.create_index("ix_user_actions_target_visit_id", ["target_visit_id"], unique=False)
        batch_op.create_index("ix_user_actions_timestamp", ["timestamp"], unique=False)
        batch_op.create_index("ix_user_actions_unique_id", ["unique_id"], unique=False)
        batch_op.create_index("ix_user_actions_user_order", ["user_id", "is_order"], unique=False)

    op.create_table(
        "user_categories",
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("category_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["category_id"],
            ["categories.id"],
            name=op.f("fk_user_categories_category_id_categories"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_user_categories_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "category_id", name=op.f("pk_user_categories")),
    )
    with op.batch_alter_table("user_categories", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_user_categories_category_id"), ["category_id"], unique=False
        )

    op.create_table(
        "user_scientific_domains",
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("scientific_domain_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["scientific_domain_id"],
            ["scientific_domains.id"],
            name=op.f("fk_user_scientific_domains_scientific_domain_id_scientific_domains"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_user_scientific_domains_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "user_id", "scientific_domain_id", name=op.f("pk_user_scientific_domains")
        ),
    )
    with op.batch_alter_table("user_scientific_domains", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_user_scientific_domains_scientific_domain_id"),
            ["scientific_domain_id"],
            unique=False,
        )

    op.create_table(
        "project_services",
        sa.Column("project_id", sa.BigInteger(), nullable=False),
        sa.Column("service_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_project_services_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["services.id"],
            name=op.f("fk_project_services_service_id_services"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("project_id", "service_id", name=op.f("pk_project_services")),
    )
    with op.batch_alter_table("project_services", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_project_services_service_id"), ["service_id"], unique=False
        )

    op.create_table(
        "service_access_modes",
        sa.Column("service_id", sa.BigInteger(), nullable=False),
        sa.Column("access_mode_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["access_mode_id"],
            ["access_modes.id"],
            name=op.f("fk_service_access_modes_access_mode_id_access_modes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["services.id"],
            name=op.f("fk_service_access_modes_service_id_services"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "service_id", "access_mode_id", name=op.f("pk_service_access_modes")
        ),
    )
    with op.batch_alter_table("service_access_modes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_service_access_modes_access_mode_id"), ["access_mode_id"], unique=False
        )

    op.create_table(
        "service_access_types",
        sa.Column("service_id", sa.BigInteger(), nullable=False),
        sa.Column("access_type_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["access_type_id"],
            ["access_types.id"],
            name=op.f("fk_service_access_types_access_type_id_access_types"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["services.id"],
            name=op.f("fk_service_access_types_service_id_services"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "service_id", "access_type_id", name=op.f("pk_service_access_types")
        ),
    )
    with op.batch_alter_table("service_access_types", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_service_access_types_access_type_id"), ["access_type_id"], unique=False
        )

    op.create_table(
        "service_categories",
        sa.Column("service_id", sa.BigInteger(), nullable=False),
        sa.Column("category_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["category_id"],
            ["categories.id"],
            name=op.f("fk_service_categories_category_id_categories"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["services.id"],
            name=op.f("fk_service_categories_service_id_services"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("service_id", "category_id", name=op.f("pk_service_categories")),
    )
    with op.batch_alter_table("service_categories", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_service_categories_category_id"), ["category_id"], unique=False
        )

    op.create_table(
        "service_life_cycle_statuses",
        sa.Column("service_id", sa.BigInteger(), nullable=False),
        sa.Column("life_cycle_status_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["life_cycle_status_id"],
            ["life_cycle_statuses.id"],
            name=op.f("fk_service_life_cycle_statuses_life_cycle_status_id_life_cycle_statuses"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["services.id"],
            name=op.f("fk_service_life_cycle_statuses_service_id_services"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "service_id", "life_cycle_status_id", name=op.f("pk_service_life_cycle_statuses")
        ),
    )
    with op.batch_alter_table("service_life_cycle_statuses", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_service_life_cycle_statuses_life_cycle_status_id"),
            ["life_cycle_status_id"],
            unique=False,
        )

    op.create_table(
        "service_platforms",
        sa.Column("service_id", sa.BigInteger(), nullable=False),
        sa.Column("platform_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["platform_id"],
            ["platforms.id"],
            name=op.f("fk_service_platforms_platform_id_platforms"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["services.id"],
            name=op.f("fk_service_platforms_service_id_services"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("service_id", "platform_id", name=op.f("pk_service_platforms")),
    )
    with op.batch_alter_table("service_platforms", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_service_platforms_platform_id"), ["platform_id"], unique=False
        )

    op.create_table(
        "service_providers",
        sa.Column("service_id", sa.BigInteger(), nullable=False),
        sa.Column("provider_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["providers.id"],
            name=op.f("fk_service_providers_provider_id_providers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["services.id"],
            name=op.f("fk_service_providers_service_id_services"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("service_id", "provider_id", name=op.f("pk_service_providers")),
    )
    with op.batch_alter_table("service_providers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_service_providers_provider_id"), ["provider_id"], unique=False
        )

    op.create_table(
        "service_related_services",
        sa.Column("service_id", sa.BigInteger(), nullable=False),
        sa.Column("related_service_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["related_service_id"],
            ["services.id"],
            name=op.f("fk_service_related_services_related_service_id_services"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["services.id"],
            name=op.f("fk_service_related_services_service_id_services"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "service_id", "related_service_id", name=op.f("pk_service_related_services")
        ),
    )
    with op.batch_alter_table("service_related_services", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_service_related_services_related_service_id"),
            ["related_service_id"],
            unique=False,
        )

    op.create_table(
        "service_required_services",
        sa.Column("service_id", sa.BigInteger(), nullable=False),
        sa.Column("required_service_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["required_service_id"],
            ["services.id"],
            name=op.f("fk_service_required_services_required_service_id_services"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["services.id"],
            name=op.f("fk_service_required_services_service_id_services"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "service_id", "required_service_id", name=op.f("pk_service_required_services")
        ),
    )
    with op.batch_alter_table("service_required_services", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_service_required_services_required_service_id"),
            ["required_service_id"],
            unique=False,
        )

    op.create_table(
        "service_research_steps",
        sa.Column("service_id", sa.BigInteger(), nullable=False),
        sa.Column("research_step_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["research_step_id"],
            ["research_steps.id"],
            name=op.f("fk_service_research_steps_research_step_id_research_steps"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["services.id"],
            name=op.f("fk_service_research_steps_service_id_services"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "service_id", "research_step_id", name=op.f("pk_service_research_steps")
        ),
    )
    with op.batch_alter_table("service_research_steps", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_service_research_steps_research_step_id"),
            ["research_step_id"],
            unique=False,
        )

    op.create_table(
        "service_scientific_domains",
        sa.Column("service_id", sa.BigInteger(), nullable=False),
        sa.Column("scientific_domain_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["scientific_domain_id"],
            ["scientific_domains.id"],
            name=op.f("fk_service_scientific_domains_scientific_domain_id_scientific_domains"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["services.id"],
            name=op.f("fk_service_scientific_domains_service_id_services"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "service_id", "scientific_domain_id", name=op.f("pk_service_scientific_domains")
        ),
    )
    with op.batch_alter_table("service_scientific_domains", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_service_scientific_domains_scientific_domain_id"),
            ["scientific_domain_id"],
            unique=False,
        )

    op.create_table(
        "service_target_users",
        sa.Column("service_id", sa.BigInteger(), nullable=False),
        sa.Column("target_user_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["services.id"],
            name=op.f("fk_service_target_users_service_id_services"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["target_user_id"],
            ["target_users.id"],
            name=op.f("fk_service_target_users_target_user_id_target_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "service_id", "target_user_id", name=op.f("pk_service_target_users")
        ),
    )
    with op.batch_alter_table("service_target_users", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_service_target_users_target_user_id"), ["target_user_id"], unique=False
        )

    op.create_table(
        "service_trls",
        sa.Column("service_id", sa.BigInteger(), nullable=False),
        sa.Column("trl_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["services.id"],
            name=op.f("fk_service_trls_service_id_services"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["trl_id"], ["trls.id"], name=op.f("fk_service_trls_trl_id_trls"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("service_id", "trl_id", name=op.f("pk_service_trls")),
    )
    with op.batch_alter_table("service_trls", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_service_trls_trl_id"), ["trl_id"], unique=False)

    op.create_table(
        "user_accessed_services",
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("service_id", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["services.id"],
            name=op.f("fk_user_accessed_services_service_id_services"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_user_accessed_services_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "service_id", name=op.f("pk_user_accessed_services")),
    )
    with op.batch_alter_table("user_accessed_services", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_user_accessed_services_service_id"), ["service_id"], unique=False
        )
    _create_search_index()


def _create_search_index() -> None:
    """Full-text search over name, tagline and description: FTS5 on SQLite, GIN on PostgreSQL."""
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE service_search USING fts5("
            "name, tagline, description, tokenize='porter unicode61')"
        )
    elif dialect == "postgresql":
        op.execute(
            "CREATE INDEX ix_services_search ON services "
            f"USING GIN (to_tsvector('english', {SEARCH_DOCUMENT}))"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS service_search")
    else:
        op.execute("DROP INDEX IF EXISTS ix_services_search")

    with op.batch_alter_table("user_accessed_services", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_user_accessed_services_service_id"))

    op.drop_table("user_accessed_services")
    with op.batch_alter_table("service_trls", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_service_trls_trl_id"))

    op.drop_table("service_trls")
    with op.batch_alter_table("service_target_users", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_service_target_users_target_user_id"))

    op.drop_table("service_target_users")
    with op.batch_alter_table("service_scientific_domains", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_service_scientific_domains_scientific_domain_id"))

    op.drop_table("service_scientific_domains")
    with op.batch_alter_table("service_research_steps", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_service_research_steps_research_step_id"))

    op.drop_table("service_research_steps")
    with op.batch_alter_table("service_required_services", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_service_required_services_required_service_id"))

    op.drop_table("service_required_services")
    with op.batch_alter_table("service_related_services", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_service_related_services_related_service_id"))

    op.drop_table("service_related_services")
    with op.batch_alter_table("service_providers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_service_providers_provider_id"))

    op.drop_table("service_providers")
    with op.batch_alter_table("service_platforms", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_service_platforms_platform_id"))

    op.drop_table("service_platforms")
    with op.batch_alter_table("service_life_cycle_statuses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_service_life_cycle_statuses_life_cycle_status_id"))

    op.drop_table("service_life_cycle_statuses")
    with op.batch_alter_table("service_categories", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_service_categories_category_id"))

    op.drop_table("service_categories")
    with op.batch_alter_table("service_access_types", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_service_access_types_access_type_id"))

    op.drop_table("service_access_types")
    with op.batch_alter_table("service_access_modes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_service_access_modes_access_mode_id"))

    op.drop_table("service_access_modes")
    with op.batch_alter_table("project_services", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_project_services_service_id"))

    op.drop_table("project_services")
    with op.batch_alter_table("user_scientific_domains", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_user_scientific_domains_scientific_domain_id"))

    op.drop_table("user_scientific_domains")
    with op.batch_alter_table("user_categories", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_user_categories_category_id"))

    op.drop_table("user_categories")
    with op.batch_alter_table("user_actions", schema=None) as batch_op:
        batch_op.drop_index("ix_user_actions_user_order")
        batch_op.drop_index("ix_user_actions_unique_id")
        batch_op.drop_index("ix_user_actions_timestamp")
        batch_op.drop_index("ix_user_actions_target_visit_id")
        batch_op.drop_index("ix_user_actions_source_visit_id")
        batch_op.drop_index("ix_user_actions_recommendation_id")

    op.drop_table("user_actions")
    with op.batch_alter_table("services", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_services_status"))

    op.drop_table("services")
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_projects_user_id"))

    op.drop_table("projects")
    op.drop_table("users")
    op.drop_table("trls")
    op.drop_table("target_users")
    op.drop_table("state")
    op.drop_table("scientific_domains")
    op.drop_table("research_steps")
    with op.batch_alter_table("recommendations", schema=None) as batch_op:
        batch_op.drop_index("ix_recommendations_visit_panel")
        batch_op.drop_index("ix_recommendations_user_id")
        batch_op.drop_index("ix_recommendations_created_at")

    op.drop_table("recommendations")
    op.drop_table("providers")
    op.drop_table("platforms")
    op.drop_table("life_cycle_statuses")
    op.drop_table("categories")
    op.drop_table("catalog_dumps")
    op.drop_table("access_types")
    op.drop_table("access_modes")
