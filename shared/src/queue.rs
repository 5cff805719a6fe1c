//! RabbitMQ carries job ids only: a durable queue of persistent messages, published with
//! confirms, consumed with manual acks and a prefetch of one; a message a consumer
//! rejects goes to the dead-letter queue instead of looping. A message carries the
//! W3C `traceparent` of its publishing in its headers, so a trace crosses the queue.
//!
//! The connection is not trusted to last: RabbitMQ restarts, and networks drop. Every
//! call first checks the link and opens a new one when the last one died, so a caller
//! sees one failed call while the broker is away and working calls once it is back.

use crate::config::AmqpSettings;
use crate::telemetry::{self, TRACEPARENT};
use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, BasicRejectOptions,
    ConfirmSelectOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobMessage {
    pub version: u32,
    pub job_id: Uuid,
}

impl JobMessage {
    pub const VERSION: u32 = 1;

    pub fn new(job_id: Uuid) -> Self {
        JobMessage {
            version: Self::VERSION,
            job_id,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a message serialises")
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, QueueError> {
        let message: JobMessage =
            serde_json::from_slice(bytes).map_err(|e| QueueError::Malformed(e.to_string()))?;
        if message.version != Self::VERSION {
            return Err(QueueError::Malformed(format!(
                "message version {} (this build reads {})",
                message.version,
                Self::VERSION
            )));
        }
        Ok(message)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("RabbitMQ: {0}")]
    Amqp(#[from] lapin::Error),
    #[error("RabbitMQ did not accept the message")]
    NotConfirmed,
    #[error("malformed job message: {0}")]
    Malformed(String),
    #[error("RabbitMQ did not answer within {0:?}")]
    TimedOut(Duration),
}

pub struct JobQueue {
    settings: AmqpSettings,
    link: tokio::sync::Mutex<Option<Link>>,
}

/// One connection to RabbitMQ and the channel that publishes and declares on it.
#[derive(Clone)]
struct Link {
    connection: Arc<Connection>,
    channel: Channel,
}

/// How long opening a connection may take before the broker counts as away.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

impl Link {
    fn is_open(&self) -> bool {
        self.connection.status().connected() && self.channel.status().connected()
    }

    /// Connects and declares the queue and its dead-letter queue `<name>.dead`.
    async fn open(settings: &AmqpSettings) -> Result<Self, QueueError> {
        let connection = tokio::time::timeout(
            CONNECT_TIMEOUT,
            Connection::connect(settings.url.expose(), ConnectionProperties::default()),
        )
        .await
        .map_err(|_| QueueError::TimedOut(CONNECT_TIMEOUT))??;
        let channel = connection.create_channel().await?;
        let durable = QueueDeclareOptions {
            durable: true,
            ..QueueDeclareOptions::default()
        };
        let dead = format!("{}.dead", settings.queue);
        channel
            .queue_declare(&dead, durable, FieldTable::default())
            .await?;
        let mut arguments = FieldTable::default();
        arguments.insert(
            "x-dead-letter-exchange".into(),
            AMQPValue::LongString("".into()),
        );
        arguments.insert(
            "x-dead-letter-routing-key".into(),
            AMQPValue::LongString(dead.as_str().into()),
        );
        channel
            .queue_declare(&settings.queue, durable, arguments)
            .await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        Ok(Link {
            connection: Arc::new(connection),
            channel,
        })
    }
}

impl JobQueue {
    /// Connects (failing when RabbitMQ is not there) and declares the queues.
    pub async fn connect(settings: &AmqpSettings) -> Result<Self, QueueError> {
        let queue = JobQueue::new(settings);
        queue.link().await?;
        Ok(queue)
    }

    /// A queue that connects on its first call: a process starting while RabbitMQ is
    /// away comes up all the same.
    pub fn new(settings: &AmqpSettings) -> Self {
        JobQueue {
            settings: settings.clone(),
            link: tokio::sync::Mutex::new(None),
        }
    }

    /// The open link, reconnecting first when the last one died.
    async fn link(&self) -> Result<Link, QueueError> {
        let mut current = self.link.lock().await;
        if let Some(link) = current.as_ref().filter(|link| link.is_open()) {
            return Ok(link.clone());
        }
        let reconnecting = current.take().is_some();
        let link = Link::open(&self.settings).await?;
        if reconnecting {
            tracing::info!("reconnected to RabbitMQ");
        }
        *current = Some(link.clone());
        Ok(link)
    }

    /// Publishes a persistent message and waits until RabbitMQ has taken it, in a
    /// producer span (a child of the current one) that the message names as its parent.
    pub async fn publish(&self, message: &JobMessage) -> Result<(), QueueError> {
        let queue = &self.settings.queue;
        let span = tracing::info_span!(
            "publish",
            otel.name = %format!("send {queue}"),
            otel.kind = "producer",
            messaging.system = "rabbitmq",
            messaging.operation.type = "send",
            messaging.destination.name = %queue,
            job = %message.job_id,
        );
        let mut headers = FieldTable::default();
        if let Some(traceparent) = telemetry::traceparent(&span) {
            headers.insert(
                TRACEPARENT.into(),
                AMQPValue::LongString(traceparent.into()),
            );
        }
        self.send(message, headers).instrument(span).await
    }

    async fn send(&self, message: &JobMessage, headers: FieldTable) -> Result<(), QueueError> {
        let confirmation = self
            .link()
            .await?
            .channel
            .basic_publish(
                "",
                &self.settings.queue,
                BasicPublishOptions {
                    mandatory: true,
                    ..BasicPublishOptions::default()
                },
                &message.encode(),
                BasicProperties::default()
                    .with_delivery_mode(2)
                    .with_content_type("application/json".into())
                    .with_headers(headers),
            )
            .await?
            .await?;
        // An ack carrying a returned message means no queue took it.
        if !confirmation.is_ack() || confirmation.take_message().is_some() {
            return Err(QueueError::NotConfirmed);
        }
        Ok(())
    }

    /// Waits for the next message, on a channel of its own with a prefetch of one.
    /// Settling the message closes that channel, so a worker busy with a job holds no
    /// second message: anything the broker sent ahead goes back to the queue for an
    /// idle worker.
    pub async fn take(&self, tag: &str) -> Result<Taken, QueueError> {
        let channel = self.link().await?.connection.create_channel().await?;
        channel.basic_qos(1, BasicQosOptions::default()).await?;
        let mut consumer = channel
            .basic_consume(
                &self.settings.queue,
                tag,
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        let delivery = consumer
            .next()
            .await
            .ok_or(lapin::Error::InvalidChannelState(channel.status().state()))??;
        let span = tracing::info_span!(
            "receive",
            otel.name = %format!("receive {}", self.settings.queue),
            otel.kind = "consumer",
            messaging.system = "rabbitmq",
            messaging.operation.type = "receive",
            messaging.destination.name = %self.settings.queue,
            trace_id = tracing::field::Empty,
        );
        telemetry::continue_trace(&span, traceparent(&delivery).as_deref());
        Ok(Taken {
            channel,
            delivery,
            span,
        })
    }

    /// Messages ready in the queue (not those delivered and unacknowledged).
    pub async fn depth(&self) -> Result<u32, QueueError> {
        Ok(self.declared_counts().await?.message_count())
    }

    /// The queue's ready messages and consumers, from one passive declare.
    pub async fn declared_counts(&self) -> Result<lapin::Queue, QueueError> {
        self.declared(&self.settings.queue).await
    }

    pub async fn dead_letter_depth(&self) -> Result<u32, QueueError> {
        Ok(self
            .declared(&format!("{}.dead", self.settings.queue))
            .await?
            .message_count())
    }

    /// Deletes the queue and its dead-letter queue, messages and all (test tear-down).
    #[cfg(feature = "test-support")]
    pub async fn delete(&self) -> Result<(), QueueError> {
        let channel = self.link().await?.channel;
        for queue in [
            self.settings.queue.clone(),
            format!("{}.dead", self.settings.queue),
        ] {
            channel
                .queue_delete(&queue, lapin::options::QueueDeleteOptions::default())
                .await?;
        }
        Ok(())
    }

    async fn declared(&self, queue: &str) -> Result<lapin::Queue, QueueError> {
        let passive = QueueDeclareOptions {
            passive: true,
            durable: true,
            ..QueueDeclareOptions::default()
        };
        Ok(self
            .link()
            .await?
            .channel
            .queue_declare(queue, passive, FieldTable::default())
            .await?)
    }
}

/// The `traceparent` of a message's publishing, if it was traced.
fn traceparent(delivery: &Delivery) -> Option<String> {
    match delivery
        .properties
        .headers()
        .as_ref()?
        .inner()
        .get(TRACEPARENT)?
    {
        AMQPValue::LongString(traceparent) => Some(traceparent.to_string()),
        _ => None,
    }
}

/// A message taken from the queue, to be acknowledged or rejected once.
pub struct Taken {
    channel: Channel,
    pub delivery: Delivery,
    /// The consumer span, a child of the message's publishing: what the turn does
    /// runs in it.
    pub span: tracing::Span,
}

impl Taken {
    pub async fn ack(self) -> Result<(), QueueError> {
        self.delivery.ack(BasicAckOptions::default()).await?;
        self.close().await
    }

    /// `requeue: false` sends the message to the dead-letter queue.
    pub async fn reject(self, requeue: bool) -> Result<(), QueueError> {
        self.delivery.reject(BasicRejectOptions { requeue }).await?;
        self.close().await
    }

    async fn close(self) -> Result<(), QueueError> {
        self.channel.close(200, "settled").await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_versioned() {
        let message = JobMessage::new(Uuid::nil());
        assert_eq!(JobMessage::decode(&message.encode()).unwrap(), message);
        let future = br#"{"version": 2, "job_id": "00000000-0000-0000-0000-000000000000"}"#;
        assert!(matches!(
            JobMessage::decode(future),
            Err(QueueError::Malformed(_))
        ));
        assert!(matches!(
            JobMessage::decode(b"not json"),
            Err(QueueError::Malformed(_))
        ));
    }
}
