//! Per-tenant features: add-ons an operator turns on for one business (e.g. the Skribble
//! dialect's identification evidence endpoints). A row means enabled; no row, disabled.

use crate::{Result, Tx, ms};
use chrono::{DateTime, Utc};
use kycd_core::TenantId;
use sqlx::Row;

impl Tx<'_> {
    /// The names of the features enabled for a tenant, sorted.
    pub async fn tenant_features(&mut self, tenant: &TenantId) -> Result<Vec<String>> {
        let rows = self
            .fetch_all(
                "SELECT feature FROM tenant_features WHERE tenant_id = $1 ORDER BY feature",
                (tenant.as_str(),),
            )
            .await?;
        rows.iter().map(|r| Ok(r.try_get("feature")?)).collect()
    }

    /// Turn a feature on (again: no change) or off. Returns whether anything changed.
    pub async fn set_tenant_feature(&mut self, tenant: &TenantId, feature: &str, enabled: bool, now: DateTime<Utc>) -> Result<bool> {
        let r = if enabled {
            self.rows_affected(
                "INSERT INTO tenant_features (tenant_id, feature, enabled_at) VALUES ($1, $2, $3)
                 ON CONFLICT (tenant_id, feature) DO NOTHING",
                (tenant.as_str(), feature, ms(now)),
            )
            .await?
        } else {
            self.delete_where("tenant_features", "feature", tenant, feature).await?
        };
        Ok(r > 0)
    }

    /// The tenant's capture page branding: accent colour (`#rrggbb`) and logo (media type, bytes).
    pub async fn tenant_branding(&mut self, tenant: &TenantId) -> Result<(Option<String>, Option<(String, Vec<u8>)>)> {
        use base64::Engine as _;
        let row = self
            .fetch_one(
                "SELECT brand_colour, brand_logo, brand_logo_type FROM tenants WHERE id = $1",
                (tenant.as_str(),),
            )
            .await?;
        let logo = match (
            row.try_get::<Option<String>, _>("brand_logo")?,
            row.try_get::<Option<String>, _>("brand_logo_type")?,
        ) {
            (Some(b64), Some(t)) => Some((
                t,
                base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .map_err(|_| crate::corrupt("brand logo"))?,
            )),
            _ => None,
        };
        Ok((row.try_get("brand_colour")?, logo))
    }

    pub async fn set_tenant_branding(&mut self, tenant: &TenantId, colour: Option<&str>, logo: Option<(&str, &[u8])>) -> Result<()> {
        use base64::Engine as _;
        self.execute(
            "UPDATE tenants SET brand_colour = $1, brand_logo = $2, brand_logo_type = $3 WHERE id = $4",
            (
                colour,
                logo.map(|(_, b)| base64::engine::general_purpose::STANDARD.encode(b)),
                logo.map(|(t, _)| t.to_owned()),
                tenant.as_str(),
            ),
        )
        .await
    }

    /// Origins allowed to frame the tenant's capture pages (none: no framing).
    pub async fn tenant_frame_ancestors(&mut self, tenant: &TenantId) -> Result<Vec<String>> {
        let row = self
            .fetch_one("SELECT frame_ancestors FROM tenants WHERE id = $1", (tenant.as_str(),))
            .await?;
        Ok(row
            .try_get::<Option<String>, _>("frame_ancestors")?
            .map(|s| s.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default())
    }

    pub async fn set_tenant_frame_ancestors(&mut self, tenant: &TenantId, origins: &[String]) -> Result<()> {
        self.execute(
            "UPDATE tenants SET frame_ancestors = $1 WHERE id = $2",
            ((!origins.is_empty()).then(|| origins.join(" ")), tenant.as_str()),
        )
        .await
    }
}
