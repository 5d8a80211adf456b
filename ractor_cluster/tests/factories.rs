//! ractor's factories across nodes. A factory's `Job` serializes its key and options into
//! `SerializedMessage`'s `metadata`, in place of what the inner message put there (for a derived
//! call, the ticket its reply is filed under): the metadata must cross the wire, and a call must
//! still find its caller.

mod common;

use std::time::Duration;

use ractor::factory::{
    queues, routing, Factory, FactoryArguments, FactoryMessage, Job, JobOptions, Worker,
    WorkerBuilder, WorkerId,
};
use ractor::{pg, Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use ractor_cluster::RactorClusterMessage;
use tokio::sync::mpsc;

use common::{connect_ready, eventually, proxy_in, start_node, within};

#[derive(Debug, RactorClusterMessage)]
enum WorkMessage {
    Record(String),
    #[rpc]
    Double(u64, RpcReplyPort<u64>),
}

/// What a worker saw of a cast job: its key, its text and its time to live.
type Seen = (u64, String, Option<Duration>);

/// The workers' start argument (with the `cluster` feature, ractor asks arguments to be
/// `Message`s explicitly).
#[derive(Clone)]
struct Sink(mpsc::UnboundedSender<Seen>);

impl ractor::Message for Sink {}

struct Doubler;

impl Worker for Doubler {
    type Key = u64;
    type Message = WorkMessage;
    type State = Sink;
    type Arguments = Sink;

    async fn pre_start(
        &self,
        _: WorkerId,
        _: &ActorRef<FactoryMessage<u64, WorkMessage>>,
        sink: Sink,
    ) -> Result<Sink, ActorProcessingErr> {
        Ok(sink)
    }

    async fn handle(
        &self,
        _: WorkerId,
        _: &ActorRef<FactoryMessage<u64, WorkMessage>>,
        Job {
            key, msg, options, ..
        }: Job<u64, WorkMessage>,
        sink: &mut Sink,
    ) -> Result<u64, ActorProcessingErr> {
        match msg {
            WorkMessage::Record(text) => {
                let _ = sink.0.send((key, text, options.ttl()));
            }
            WorkMessage::Double(n, reply) => {
                let _ = reply.send(2 * n + key);
            }
        }
        Ok(key)
    }
}

struct Workers(Sink);

impl WorkerBuilder<Doubler, Sink> for Workers {
    fn build(&mut self, _: usize) -> (Doubler, Sink) {
        (Doubler, self.0.clone())
    }
}

type WorkFactory = Factory<
    u64,
    WorkMessage,
    Sink,
    Doubler,
    routing::KeyPersistentRouting<u64, WorkMessage>,
    queues::DefaultQueue<u64, WorkMessage>,
>;

fn job(key: u64, msg: WorkMessage, ttl: Option<Duration>) -> FactoryMessage<u64, WorkMessage> {
    FactoryMessage::Dispatch(Job {
        key,
        msg,
        options: JobOptions::new(ttl),
        accepted: None,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_factory_takes_casts_with_their_key_and_answers_calls() {
    let mut a = start_node("factory-a").await;
    let mut b = start_node("factory-b").await;
    connect_ready(&mut a, &mut b).await;

    // The factory runs on b, announced through a group; a reaches it through a proxy.
    let (seen, mut jobs) = mpsc::unbounded_channel();
    let (factory, _) = Actor::spawn(
        None,
        WorkFactory::default(),
        FactoryArguments::builder()
            .worker_builder(Box::new(Workers(Sink(seen))))
            .num_initial_workers(2)
            .queue(Default::default())
            .router(Default::default())
            .build(),
    )
    .await
    .unwrap();
    let group = "factory-group";
    pg::join(group.to_owned(), vec![factory.get_cell()]);
    let mut proxy = None;
    eventually("the factory's proxy to join the group", || {
        proxy = proxy_in(group, a.id, &factory.get_cell());
        proxy.is_some()
    })
    .await;
    let proxy: ActorRef<FactoryMessage<u64, WorkMessage>> = proxy.unwrap().into();

    // A cast: the job's key and options come across with it.
    let ttl = Some(Duration::from_secs(600));
    proxy
        .cast(job(7, WorkMessage::Record("hello".into()), ttl))
        .unwrap();
    let got = within("the cast job to reach a worker", jobs.recv()).await;
    assert_eq!(got, Some((7, "hello".to_owned(), ttl)));

    // Calls, several at once: each answer reaches its own caller.
    let calls = (1..=8u64).map(|n| {
        let proxy = proxy.clone();
        tokio::spawn(async move {
            ractor::call_t!(
                proxy,
                |reply| job(n, WorkMessage::Double(n * 10, reply), None),
                5_000
            )
        })
    });
    for (n, call) in (1..=8u64).zip(calls.collect::<Vec<_>>()) {
        let answer = within("a call to the remote factory", call).await.unwrap();
        assert_eq!(answer.unwrap(), 21 * n, "the answer to call {n}");
    }

    factory.stop(None);
    b.stop().await;
    a.stop().await;
}
