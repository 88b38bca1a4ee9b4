//! The transport: one smithy `Operation` carrying every EC2 Query call, on the AWS SDK's runtime
//! with the same pieces aws-sdk-ec2 assembles (SigV4 as `ec2`, the standard retry strategy and
//! its `ec2` token bucket, the SDK's error-code, transient and status classifiers, the shared
//! HTTP client, credentials cache and timeouts), and EC2's error document read into
//! `code`/`message`.

use std::fmt;

use aws_runtime::auth::sigv4::{SigV4AuthScheme, SCHEME_ID};
use aws_runtime::auth::SigV4OperationSigningConfig;
use aws_runtime::retries::classifiers::AwsErrorCodeClassifier;
use aws_smithy_runtime::client::identity::IdentityCache;
use aws_smithy_runtime::client::orchestrator::operation::Operation;
use aws_smithy_runtime::client::retries::classifiers::{
    HttpStatusCodeClassifier, TransientErrorClassifier,
};
use aws_smithy_runtime::client::stalled_stream_protection::StalledStreamProtectionInterceptor;
use aws_smithy_runtime_api::client::auth::static_resolver::StaticAuthSchemeOptionResolver;
use aws_smithy_runtime_api::client::auth::{
    AuthSchemeOptionResolverParams, SharedAuthScheme, SharedAuthSchemeOptionResolver,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse, OrchestratorError};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponentsBuilder;
use aws_smithy_runtime_api::client::runtime_plugin::StaticRuntimePlugin;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::Layer;
use aws_smithy_types::error::metadata::{ErrorMetadata, ProvideErrorMetadata};
use aws_smithy_types::retry::RetryConfig;
use aws_types::region::SigningRegion;
use aws_types::service_config::ServiceConfigKey;
use aws_types::{SdkConfig, SigningName};

use crate::query::Query;
use crate::xml::Node;

/// What an EC2 call fails with: the SDK's own error type, so `code()` and `message()`
/// (`ProvideErrorMetadata`) and the error chain read as they do for every other service.
pub type Ec2Error = SdkError<ServiceError, HttpResponse>;

/// An error EC2 answered with: the first `Errors/Error` of its error document. An answer with
/// no readable document (a proxy's HTML page, a success status with a body that is not EC2's
/// answer) carries no code, as with the SDK: not retried unless its status is.
#[derive(Debug)]
pub struct ServiceError {
    meta: ErrorMetadata,
    status: u16,
}

impl ServiceError {
    /// Read an error answer.
    pub fn from_answer(status: u16, body: &str) -> Self {
        let error = Node::parse(body)
            .ok()
            .and_then(|root| root.at(&["Errors", "Error"]).cloned());
        let mut meta = ErrorMetadata::builder();
        if let Some(e) = &error {
            if let Some(code) = e.text_of("Code") {
                meta = meta.code(code);
            }
            if let Some(message) = e.text_of("Message") {
                meta = meta.message(message);
            }
        }
        ServiceError {
            meta: meta.build(),
            status,
        }
    }

    /// An error with no code, only what happened.
    fn unhandled(status: u16, message: String) -> Self {
        ServiceError {
            meta: ErrorMetadata::builder().message(message).build(),
            status,
        }
    }
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.meta.code(), self.meta.message()) {
            (Some(code), Some(message)) => write!(f, "{code}: {message}"),
            (Some(code), None) => f.write_str(code),
            (None, Some(message)) => {
                write!(
                    f,
                    "unhandled error (HTTP status {}): {message}",
                    self.status
                )
            }
            (None, None) => write!(f, "unhandled error (HTTP status {})", self.status),
        }
    }
}

impl std::error::Error for ServiceError {}

impl ProvideErrorMetadata for ServiceError {
    fn meta(&self) -> &ErrorMetadata {
        &self.meta
    }
}

/// A client for the EC2 Query API, made from the same `SdkConfig` as every SDK client.
#[derive(Clone)]
pub struct Client {
    operation: Option<Operation<Query, Node, ServiceError>>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ec2_query::Client")
    }
}

/// Where EC2 answers: the configured endpoint (`AWS_ENDPOINT_URL_EC2` or the profile's
/// `services` section, then the shared one), else the region's in the commercial and China
/// partitions, FIPS where asked. `None` without a region.
pub fn endpoint(sdk: &SdkConfig) -> Option<String> {
    // The key as aws-sdk-ec2 names it: the loader adds the `_EC2` suffix and honours
    // `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS`.
    let key = ServiceConfigKey::builder()
        .service_id("EC2")
        .profile("endpoint_url")
        .env("AWS_ENDPOINT_URL")
        .build()
        .ok()?;
    let configured = sdk
        .service_config()
        .and_then(|c| c.load_config(key))
        .or_else(|| sdk.endpoint_url().map(str::to_string));
    if configured.is_some() {
        return configured;
    }
    let region = sdk.region()?.as_ref();
    let host = if sdk.use_fips() == Some(true) {
        "ec2-fips"
    } else {
        "ec2"
    };
    let domain = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    Some(format!("https://{host}.{region}.{domain}"))
}

/// SigV4 as service `ec2` in the configured region, with the configured credentials behind one
/// cache shared by every call of this client.
fn signing(sdk: &SdkConfig) -> StaticRuntimePlugin {
    let mut config = Layer::new("ec2-query");
    config.store_put(AuthSchemeOptionResolverParams::new(()));
    config.store_put(SigV4OperationSigningConfig {
        region: sdk.region().map(|r| SigningRegion::from(r.clone())),
        name: Some(SigningName::from_static("ec2")),
        ..Default::default()
    });
    let mut components = RuntimeComponentsBuilder::new("ec2-query");
    components.set_auth_scheme_option_resolver(Some(SharedAuthSchemeOptionResolver::new(
        StaticAuthSchemeOptionResolver::new(vec![SCHEME_ID]),
    )));
    components.push_auth_scheme(SharedAuthScheme::new(SigV4AuthScheme::new()));
    if let Some(credentials) = sdk.credentials_provider() {
        components.set_identity_resolver(SCHEME_ID, credentials);
    }
    components.set_identity_cache(Some(
        sdk.identity_cache()
            .unwrap_or_else(|| IdentityCache::lazy().build()),
    ));
    StaticRuntimePlugin::new()
        .with_config(config.freeze())
        .with_runtime_components(components)
}

fn request(query: Query) -> Result<HttpRequest, aws_smithy_runtime_api::box_error::BoxError> {
    let body = query.body();
    let mut req = HttpRequest::new(SdkBody::from(body.clone()));
    req.set_method("POST")?;
    req.set_uri("/")?;
    req.headers_mut()
        .insert("content-type", "application/x-www-form-urlencoded");
    req.headers_mut()
        .insert("content-length", body.len().to_string());
    Ok(req)
}

fn answer(response: &HttpResponse) -> Result<Node, OrchestratorError<ServiceError>> {
    let body = String::from_utf8_lossy(response.body().bytes().unwrap_or_default());
    let status = response.status().as_u16();
    let unhandled = || OrchestratorError::operation(ServiceError::from_answer(status, &body));
    if !response.status().is_success() {
        return Err(unhandled());
    }
    Node::parse(&body).map_err(|_| unhandled())
}

impl Client {
    /// A client from the shared configuration.
    pub fn new(sdk: &SdkConfig) -> Self {
        let Some(url) = endpoint(sdk) else {
            return Client { operation: None };
        };
        let mut op = Operation::builder()
            .service_name("ec2")
            .operation_name("Ec2Query")
            .endpoint_url(&url)
            .standard_retry(
                &sdk.retry_config()
                    .cloned()
                    .unwrap_or_else(RetryConfig::standard),
            )
            .retry_classifier(TransientErrorClassifier::<ServiceError>::new())
            .retry_classifier(AwsErrorCodeClassifier::<ServiceError>::new())
            .retry_classifier(HttpStatusCodeClassifier::default())
            .with_connection_poisoning()
            .interceptor(StalledStreamProtectionInterceptor::default())
            .runtime_plugin(signing(sdk));
        if let Some(s) = sdk.stalled_stream_protection() {
            op = op.stalled_stream_protection(s);
        }
        if let Some(t) = sdk.timeout_config() {
            op = op.timeout_config(t.clone());
        }
        if let Some(http) = sdk.http_client() {
            op = op.http_client(http);
        }
        if let Some(sleep) = sdk.sleep_impl() {
            op = op.sleep_impl(sleep);
        }
        if let Some(time) = sdk.time_source() {
            op = op.time_source(time);
        }
        if let Some(bv) = sdk.behavior_version() {
            op = op.behavior_version(bv);
        }
        let operation = op.serializer(request).deserializer(answer).build();
        Client {
            operation: Some(operation),
        }
    }

    /// Send one request; the answer's root element comes back.
    pub async fn call(&self, query: Query) -> Result<Node, Ec2Error> {
        let Some(op) = &self.operation else {
            return Err(SdkError::construction_failure(
                "no AWS region is configured, so EC2 has no endpoint",
            ));
        };
        let action = query.action();
        let answer = op.invoke(query).await?;
        if answer.name != format!("{action}Response") {
            let what = format!("EC2 answered {action} with <{}>", answer.name);
            let status = 200u16.try_into().expect("a valid status");
            return Err(SdkError::service_error(
                ServiceError::unhandled(200, what),
                HttpResponse::new(status, SdkBody::empty()),
            ));
        }
        Ok(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_document_gives_code_and_message_and_a_page_gives_neither() {
        let body = "<Response><Errors><Error><Code>InvalidGroup.NotFound</Code><Message>The security group 'sg-1' does not exist</Message></Error></Errors><RequestID>r</RequestID></Response>";
        let e = ServiceError::from_answer(400, body);
        assert_eq!(e.code(), Some("InvalidGroup.NotFound"));
        assert_eq!(
            e.to_string(),
            "InvalidGroup.NotFound: The security group 'sg-1' does not exist"
        );
        let page = ServiceError::from_answer(502, "<html><body>Bad Gateway</body></html>");
        assert_eq!(page.code(), None);
        assert_eq!(page.to_string(), "unhandled error (HTTP status 502)");
    }

    #[test]
    fn the_endpoint_is_the_configured_one_else_the_region_s() {
        let sdk = |b: aws_types::sdk_config::Builder| b.build();
        let region = aws_types::region::Region::new;
        let plain = sdk(SdkConfig::builder().region(region("eu-central-2")));
        assert_eq!(
            endpoint(&plain).as_deref(),
            Some("https://ec2.eu-central-2.amazonaws.com")
        );
        let fips = sdk(SdkConfig::builder()
            .region(region("us-east-1"))
            .use_fips(true));
        assert_eq!(
            endpoint(&fips).as_deref(),
            Some("https://ec2-fips.us-east-1.amazonaws.com")
        );
        let china = sdk(SdkConfig::builder().region(region("cn-north-1")));
        assert_eq!(
            endpoint(&china).as_deref(),
            Some("https://ec2.cn-north-1.amazonaws.com.cn")
        );
        let local = sdk(SdkConfig::builder()
            .region(region("eu-central-2"))
            .endpoint_url("http://127.0.0.1:4566"));
        assert_eq!(endpoint(&local).as_deref(), Some("http://127.0.0.1:4566"));
        assert_eq!(endpoint(&SdkConfig::builder().build()), None);
    }
}
