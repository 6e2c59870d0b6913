//! A gRPC health client, for `uid-gate healthcheck` (container health checks without a shell)
//! and the benchmark's readiness wait.

use std::time::Duration;

/// Asks the gRPC health service at `addr` (host:port) for `service` and returns the status
/// name (`SERVING`, `NOT_SERVING`, …), within `timeout`.
pub async fn health_status(
    addr: &str,
    service: &str,
    timeout: Duration,
) -> Result<String, HealthCheckError> {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;

    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .map_err(|_| HealthCheckError::BadAddress)?
        .connect_timeout(timeout)
        .timeout(timeout);
    let channel = endpoint
        .connect()
        .await
        .map_err(|_| HealthCheckError::Unreachable)?;
    let response = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await
        .map_err(|s| HealthCheckError::Rpc(s.code()))?;
    let status = tonic_health::pb::health_check_response::ServingStatus::try_from(
        response.into_inner().status,
    )
    .map_or("UNKNOWN", |s| s.as_str_name());
    Ok(status.to_owned())
}

/// Why a health check could not be asked.
#[derive(Debug, thiserror::Error)]
pub enum HealthCheckError {
    #[error("not a host:port address")]
    BadAddress,
    #[error("cannot connect")]
    Unreachable,
    #[error("health RPC failed: {0:?}")]
    Rpc(tonic::Code),
}
