//! Unit tests of the call module: tickets, the pending table, forwarders.

use super::*;

fn decode_u32(bytes: &[u8]) -> Result<u32, FieldError> {
    bytes
        .try_into()
        .map(u32::from_le_bytes)
        .map_err(|_| FieldError::new("not four bytes"))
}

#[tokio::test]
async fn a_completed_ticket_delivers_the_decoded_value() {
    let (tx, rx) = ractor::concurrency::oneshot::<u32>();
    let (ticket, _message) = register_pending_call(tx.into(), decode_u32);
    let back = CallTicket::from_metadata(&ticket.to_metadata());
    assert_eq!(back, Some(ticket));
    complete_call(ticket, Ok(&7u32.to_le_bytes()));
    assert_eq!(rx.await.unwrap(), 7);
}

#[tokio::test]
async fn a_failed_or_undecodable_reply_closes_the_callers_port() {
    let (tx, rx) = ractor::concurrency::oneshot::<u32>();
    let (ticket, _message) = register_pending_call(tx.into(), decode_u32);
    complete_call(ticket, Err(NoReply::SessionEnded));
    assert!(rx.await.is_err());

    let (tx, rx) = ractor::concurrency::oneshot::<u32>();
    let (ticket, _message) = register_pending_call(tx.into(), decode_u32);
    complete_call(ticket, Ok(b"garbage"));
    assert!(rx.await.is_err());
}

#[test]
fn metadata_that_is_not_a_ticket_is_refused() {
    assert_eq!(CallTicket::from_metadata(&[]), None);
    assert_eq!(CallTicket::from_metadata(&[TICKET_MARKER, 1, 2]), None);
    assert_eq!(
        CallTicket::from_metadata(&[0, 0, 0, 0, 0, 0, 0, 0, 0]),
        None
    );
}

#[test]
fn abandoned_calls_are_swept_so_the_table_stays_bounded() {
    // Callers that give up (their receiver is dropped) must not accumulate forever.
    for _ in 0..(MIN_SWEEP_AT * 4) {
        let (tx, rx) = ractor::concurrency::oneshot::<u32>();
        let (_ticket, message) = register_pending_call(tx.into(), decode_u32);
        drop(rx);
        drop(message);
    }
    // Other tests run in parallel and may hold a few live entries.
    assert!(
        pending_call_count() <= MIN_SWEEP_AT * 2,
        "{}",
        pending_call_count()
    );
}
#[tokio::test]
async fn a_call_dropped_before_any_proxy_took_it_fails_on_the_next_orphan_sweep() {
    let (tx, rx) = ractor::concurrency::oneshot::<u32>();
    let (_ticket, message) = register_pending_call(tx.into(), decode_u32);
    // The message dies unsent, as in the mailbox of a killed proxy.
    drop(message);
    fail_orphaned_calls();
    assert!(
        rx.await.is_err(),
        "the caller learns that no reply will come"
    );
}

#[tokio::test]
async fn a_claimed_call_survives_the_orphan_sweep_and_still_completes() {
    let (tx, rx) = ractor::concurrency::oneshot::<u32>();
    let (ticket, message) = register_pending_call(tx.into(), decode_u32);
    assert!(claim_call(ticket));
    drop(message);
    fail_orphaned_calls();
    complete_call(ticket, Ok(&9u32.to_le_bytes()));
    assert_eq!(rx.await.unwrap(), 9);
}

#[tokio::test]
async fn a_call_whose_caller_gave_up_is_not_claimed() {
    let (tx, rx) = ractor::concurrency::oneshot::<u32>();
    let (ticket, _message) = register_pending_call(tx.into(), decode_u32);
    drop(rx);
    fail_orphaned_calls();
    assert!(!claim_call(ticket));
}

fn encode_u32(value: u32) -> Result<Vec<u8>, FieldError> {
    Ok(value.to_le_bytes().to_vec())
}

#[tokio::test]
async fn a_routed_reply_is_forwarded_by_the_inbox_owner_not_a_task_of_its_own() {
    let mut inbox = ForwarderInbox::open();
    let (bytes_tx, bytes_rx) = ractor::concurrency::oneshot::<Vec<u8>>();
    let typed = typed_reply_port(bytes_tx.into(), Some(&inbox.route_metadata()), encode_u32);
    typed.send(5).unwrap();
    // Nothing runs the forwarder but the inbox's owner.
    let forwarder = inbox.recv().await.expect("the forwarder was routed here");
    forwarder.await;
    assert_eq!(bytes_rx.await.unwrap(), 5u32.to_le_bytes().to_vec());
}

#[tokio::test]
async fn an_inbox_makes_its_channel_when_the_first_call_names_it() {
    let mut inbox = ForwarderInbox::open();
    assert!(
        !inbox::is_registered(inbox.id),
        "a reader that delivers no call keeps no channel"
    );
    // Waiting on it before then waits, and sees nothing.
    let early = tokio::time::timeout(Duration::from_millis(20), inbox.recv()).await;
    assert!(early.is_err());
    assert!(inbox.try_recv().is_none());
    let (bytes_tx, bytes_rx) = ractor::concurrency::oneshot::<Vec<u8>>();
    let route = inbox.delivery_metadata(3);
    assert!(inbox::is_registered(inbox.id));
    let typed = typed_reply_port(bytes_tx.into(), Some(&route), encode_u32);
    typed.send(8).unwrap();
    let routed = tokio::time::timeout(Duration::from_secs(5), inbox.recv())
        .await
        .expect("the answer came to the inbox")
        .expect("the inbox is open");
    routed.await;
    assert_eq!(bytes_rx.await.unwrap(), 8u32.to_le_bytes().to_vec());
    let id = inbox.id;
    drop(inbox);
    assert!(!inbox::is_registered(id), "a dropped inbox leaves the map");
}

#[tokio::test]
async fn a_reply_to_a_closed_inbox_falls_back_to_a_task() {
    let route = ForwarderInbox::open().route_metadata();
    let (bytes_tx, bytes_rx) = ractor::concurrency::oneshot::<Vec<u8>>();
    let typed = typed_reply_port(bytes_tx.into(), Some(&route), encode_u32);
    typed.send(6).unwrap();
    assert_eq!(bytes_rx.await.unwrap(), 6u32.to_le_bytes().to_vec());
}

// No runtime here: nothing can be spawned, so the answer must reach the caller directly.
#[test]
fn a_call_decoded_in_its_own_process_answers_the_caller_through_its_own_port() {
    let (tx, mut rx) = ractor::concurrency::oneshot::<u32>();
    let caller: RpcReplyPort<u32> = (tx, Duration::from_secs(3)).into();
    let (ticket, placeholder) = register_pending_call(caller, decode_u32);
    let port = typed_reply_port(placeholder, Some(&ticket.to_metadata()), encode_u32);
    assert_eq!(port.get_timeout(), Some(Duration::from_secs(3)));
    port.send(11).unwrap();
    assert_eq!(rx.try_recv().unwrap(), 11);
    // The entry left the table with the port: completing the ticket again does nothing.
    complete_call(ticket, Ok(&12u32.to_le_bytes()));
}

#[tokio::test]
async fn a_local_call_decoded_with_another_reply_type_answers_through_the_callers_decoder() {
    let (tx, rx) = ractor::concurrency::oneshot::<u32>();
    let (ticket, placeholder) = register_pending_call(tx.into(), decode_u32);
    let port = typed_reply_port::<[u8; 4]>(placeholder, Some(&ticket.to_metadata()), |bytes| {
        Ok(bytes.to_vec())
    });
    port.send(9u32.to_le_bytes()).unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(5), rx).await;
    assert_eq!(answer.unwrap().unwrap(), 9);
}

#[test]
fn metadata_without_this_process_key_names_no_ticket_or_route() {
    let (tx, _rx) = ractor::concurrency::oneshot::<u32>();
    let (ticket, _placeholder) = register_pending_call(tx.into(), decode_u32);
    let mut forged = ticket.to_metadata();
    assert_eq!(CallTicket::from_metadata(&forged), Some(ticket));
    // What a peer would have to send to name this ticket, with a key it can only guess.
    if let Some(last) = forged.last_mut() {
        *last ^= 1;
    }
    assert_eq!(CallTicket::from_metadata(&forged), None);
    let inbox = ForwarderInbox::open();
    let mut route = inbox.route_metadata();
    assert_eq!(route_of(&route), Some(inbox.id));
    route.truncate(9);
    assert_eq!(route_of(&route), None);
}

// A factory job keeps the derive's placeholder port but not its ticket: the proxy files the port
// as a call of its own, and the reply that lands in the placeholder must reach the caller. No
// runtime: it must happen in the thread that completes the call.
#[test]
fn a_reply_through_a_placeholder_that_lost_its_ticket_reaches_the_caller() {
    let (tx, mut rx) = ractor::concurrency::oneshot::<u32>();
    let (_lost, placeholder) = register_pending_call(tx.into(), decode_u32);
    let carried = register_foreign_call(placeholder);
    complete_call(carried, Ok(&5u32.to_le_bytes()));
    assert_eq!(rx.try_recv().unwrap(), 5);
}

#[test]
fn a_failed_call_through_a_placeholder_that_lost_its_ticket_fails_the_caller_at_once() {
    let (tx, mut rx) = ractor::concurrency::oneshot::<u32>();
    let (_lost, placeholder) = register_pending_call(tx.into(), decode_u32);
    let carried = register_foreign_call(placeholder);
    complete_call(carried, Err(NoReply::SessionEnded));
    assert!(matches!(
        rx.try_recv(),
        Err(tokio::sync::oneshot::error::TryRecvError::Closed)
    ));
}

// A hand-written `Message` impl's own reply port gets the reply's bytes as they came.
#[test]
fn a_foreign_reply_port_gets_the_bytes() {
    let (tx, mut rx) = ractor::concurrency::oneshot::<Vec<u8>>();
    let carried = register_foreign_call(tx.into());
    complete_call(carried, Ok(b"raw"));
    assert_eq!(rx.try_recv().unwrap(), b"raw".to_vec());
}

/// A waker that counts its wake-ups: stands for the reader's task.
struct CountingWaker(std::sync::atomic::AtomicUsize);

impl std::task::Wake for CountingWaker {
    fn wake(self: std::sync::Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

fn counting_waker() -> (std::sync::Arc<CountingWaker>, std::task::Waker) {
    let count = std::sync::Arc::new(CountingWaker(std::sync::atomic::AtomicUsize::new(0)));
    (std::sync::Arc::clone(&count), count.into())
}

fn delivered_call(call: u64, metadata: Vec<u8>) -> (RpcReplyPort<Vec<u8>>, DeliveredCall) {
    let (message, delivered) = deliverable(call, "V".to_owned(), Vec::new(), metadata);
    let SerializedMessage::Call { reply, .. } = message else {
        unreachable!("deliverable makes a call")
    };
    (reply, delivered)
}

#[test]
fn a_delivered_call_whose_port_is_answered_or_dropped_wakes_the_reader_with_its_outcome() {
    let mut calls = DeliveredCalls::default();
    let (counter, waker) = counting_waker();
    let mut cx = Context::from_waker(&waker);
    let (answered_key, dropped_key) = (calls.key(), calls.key());
    let (answered, first) = delivered_call(40, Vec::new());
    let (dropped, second) = delivered_call(41, Vec::new());
    assert!(calls.push(answered_key, first).is_none());
    assert!(calls.push(dropped_key, second).is_none());
    assert!(calls.poll_next(&mut cx).is_pending());

    answered.send(vec![1, 2]).unwrap();
    drop(dropped);
    // Woken (once: the reader then takes every outcome there is).
    assert_eq!(counter.0.load(Ordering::Relaxed), 1);
    let mut outcomes = vec![];
    while let Poll::Ready((call, outcome, _trace)) = calls.poll_next(&mut cx) {
        outcomes.push((call, outcome));
    }
    outcomes.sort_by_key(|(call, _)| *call);
    assert_eq!(
        outcomes,
        vec![(40, Ok(vec![1, 2])), (41, Err(CallFailure::ReplyDropped))]
    );
    assert!(calls.is_empty());
}

#[test]
fn a_delivered_call_already_dropped_has_its_outcome_at_once() {
    let mut calls = DeliveredCalls::default();
    let key = calls.key();
    let (port, delivered) = delivered_call(7, Vec::new());
    drop(port);
    let outcome = calls.push(key, delivered);
    assert_eq!(
        outcome.map(|(call, outcome, _trace)| (call, outcome)),
        Some((7, Err(CallFailure::ReplyDropped)))
    );
    assert_eq!(calls.len(), 0);
}

// The point of keys: once the typed answer came to the reader, the call's byte port going away
// (with the answer) must not wake the reader a second time for the same call.
#[tokio::test]
async fn a_routed_answer_takes_its_call_over_and_its_byte_port_wakes_nothing() {
    let mut inbox = ForwarderInbox::open();
    let mut calls = DeliveredCalls::default();
    let key = calls.key();
    let (port, delivered) = delivered_call(9, inbox.delivery_metadata(key));
    assert!(calls.push(key, delivered).is_none());
    let (counter, waker) = counting_waker();
    assert!(calls
        .poll_next(&mut Context::from_waker(&waker))
        .is_pending());

    let typed = typed_reply_port(port, Some(&inbox.delivery_metadata(key)), encode_u32);
    typed.send(3).unwrap();
    let routed = inbox.try_recv().expect("the answer was routed here");
    let (delivery, answer) = routed.take().expect("a keyed route");
    assert_eq!(delivery, key);
    let (call, trace) = calls.take_over(delivery).expect("the call waits");
    assert_eq!(call, 9);
    let (call, outcome, _trace) = answer.for_call(call, trace).await;
    assert_eq!((call, outcome), (9, Ok(3u32.to_le_bytes().to_vec())));
    // The answer and the byte port it held are gone, and the reader was not woken for them.
    assert_eq!(counter.0.load(Ordering::Relaxed), 0);
    assert!(calls.is_empty());
    assert!(calls.take_over(delivery).is_none());
}

#[test]
fn a_route_names_its_inbox_and_its_delivered_call_only_with_this_process_key() {
    let inbox = ForwarderInbox::open();
    let route = inbox.delivery_metadata(77);
    assert_eq!(inbox::read_route(&route), Some((inbox.id, Some(77))));
    assert_eq!(
        inbox::read_route(&inbox.route_metadata()),
        Some((inbox.id, None))
    );
    let mut forged = route.clone();
    if let Some(key_byte) = forged.get_mut(9) {
        *key_byte ^= 1;
    }
    assert_eq!(inbox::read_route(&forged), None);
    for len in [1, 9, 17 + 4, 26] {
        let mut cut = route.clone();
        cut.resize(len, 0);
        assert_eq!(inbox::read_route(&cut), None, "{len} bytes");
    }
}
