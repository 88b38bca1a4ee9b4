//! Another platform tool importing one family crate: it builds an S3 bucket with the family's
//! typed builder and plans it with the core's engine against the local AWS, as it would against
//! an account. Run by `cargo xtask ci`:
//!
//! ```text
//! cargo run -p data-s3 --example plan_bucket
//! ```

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use data_s3::Bucket;
use layer_core::engine::{Engine, Mode};
use layer_core::resource::{Context, WaitSettings};
use layer_core::tags::ownership_tags;
use layer_core::{Action, Tags};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // The tool's own logging, with the guard that keeps secret values out of it: while one of
    // the crates' calls carries a value, no other crate's event gets through.
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    use tracing_subscriber::Layer as _;
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_filter(tracing_subscriber::filter::LevelFilter::WARN),
        )
        .with(layer_core::log_guard::SecretGuard)
        .init();
    // The local AWS: the emulator behind the project's gateway, on a port of its own.
    let venv = std::env::var_os("DAL_EMULATOR_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(".local/venv"));
    let aws = local_aws::LocalAws::start(&venv, 0).await?;
    let sdk = local_aws::standin::sdk_config(&aws.endpoint(), "eu-central-2").await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    );

    // One bucket, built with the family's typed builder.
    let bucket = Bucket::builder()
        .client(s3)
        .key("reports")
        .name("example-tool-reports".to_string())
        .region("eu-central-2".to_string())
        .account_id("123456789012".to_string())
        .kms_key_arn("arn:aws:kms:eu-central-2:123456789012:key/example".to_string())
        .vpc_endpoint_id("vpce-example".to_string())
        .lifecycle(None)
        .build();

    // Planned by the core's engine: read-only, as `plan` is.
    let engine = Engine::new(vec![Arc::new(bucket)], 4);
    let cx = Context {
        environment: "example".into(),
        tags: ownership_tags("example", "example", &Tags::new()),
        tags_by_resource: Default::default(),
        flags: Default::default(),
        wait: WaitSettings {
            timeout: Duration::from_secs(60),
            poll: Duration::from_millis(200),
        },
        cache: Default::default(),
        progress: Default::default(),
    };
    let run = engine.plan(&cx, Mode::Deploy).await?;
    println!("{}", run.plan);
    anyhow::ensure!(
        run.plan.changes.len() == 1 && run.plan.changes[0].action == Action::Create,
        "expected one bucket to create"
    );
    anyhow::ensure!(aws.calls().summary().mutating == 0, "planning wrote to AWS");
    Ok(())
}
