//! The catalog's stock, prices and recommendations in the real runtime: its
//! private HTTP API (`/stock/...`, `/quote`) as the order processor calls it,
//! and `store.product.recommend` / `store.product.query` showing the live stock.
//!
//! Each test has a harness of its own, so its key-value store starts empty:
//! every product has its file's stock. Products used: `fsh-024` (Block-Heel
//! Leather Pumps, stock 10, USD 99.00, no promotion), `fsh-001` (Linen Wrap
//! Midi Dress, USD 89.00 less 15% "dress-season" = USD 75.65, stock 14,
//! complements fsh-021, fsh-026, fsh-029; related fsh-002, fsh-003 (sold out),
//! fsh-005), `fsh-031` (stock 1).

use agent_store_events::{ProductQueryResult, ProductRecommendResult, RecommendationKind, ext, types};
use agent_store_testing::{Harness, data, event};
use anyhow::{Result, ensure};
use bytes::Bytes;
use cloudevents::AttributesReader;
use serde_json::{Value, json};

fn catalog() -> Result<Harness> {
    Harness::component("product-catalog").build()
}

/// A request to the catalog's private API, as service chaining delivers it.
async fn call(h: &Harness, method: &str, path: &str, body: Option<Value>) -> Result<(u16, Value)> {
    let request = http::Request::builder()
        .method(method)
        .uri(format!("http://product-catalog.spin.internal{path}"))
        .header("content-type", "application/json")
        .body(Bytes::from(body.map(|b| b.to_string()).unwrap_or_default()))?;
    let response = h.http(request).await?;
    let status = response.status().as_u16();
    let body = serde_json::from_slice(response.body()).unwrap_or(Value::Null);
    Ok((status, body))
}

async fn reserve(h: &Harness, order_id: &str, lines: Value) -> Result<(u16, Value)> {
    call(h, "POST", "/stock/reserve", Some(json!({ "order_id": order_id, "brand": "fashion", "lines": lines }))).await
}

async fn available(h: &Harness, product: &str) -> Result<u64> {
    let (status, body) = call(h, "GET", &format!("/stock/{product}"), None).await?;
    ensure!(status == 200, "GET /stock/{product}: {status} {body}");
    Ok(body["available"].as_u64().unwrap_or(u64::MAX))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reservation_prices_the_lines_and_holds_the_stock() -> Result<()> {
    let h = catalog()?;
    let (status, body) = reserve(
        &h,
        "ord-t1",
        json!([{"product_id": "fsh-001", "quantity": 2}, {"product_id": "fsh-024", "quantity": 3}]),
    )
    .await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "reserved");
    assert_eq!(body["currency"], "USD");
    let dress = &body["lines"][0];
    assert_eq!(dress["name"], "Linen Wrap Midi Dress");
    assert_eq!(dress["unit_price"], json!({"amount_minor": 7565, "currency": "USD"}));
    assert_eq!(dress["line_total"]["amount_minor"], 15130);
    assert_eq!(dress["promotion"]["id"], "dress-season");
    assert_eq!(body["lines"][1]["unit_price"]["amount_minor"], 9900);
    assert_eq!(body["subtotal"]["amount_minor"], 15130 + 29700);

    let (_, mut level) = call(&h, "GET", "/stock/fsh-024", None).await?;
    // The pumps come in sizes; ordered without one, only the product's units are held.
    let sizes = level.as_object_mut().and_then(|l| l.remove("variants")).unwrap_or_default();
    assert_eq!(sizes["options"][2], json!({"value": "38", "stock": 3}), "{sizes}");
    assert_eq!(
        level,
        json!({"product_id": "fsh-024", "brand": "fashion", "stock": 10, "sold": 0, "reserved": 3, "available": 7})
    );
    assert_eq!(available(&h, "fsh-001").await?, 12);

    // A retried reserve answers the same reservation and holds nothing more.
    let (status, again) = reserve(
        &h,
        "ord-t1",
        json!([{"product_id": "fsh-001", "quantity": 2}, {"product_id": "fsh-024", "quantity": 3}]),
    )
    .await?;
    assert_eq!((status, &again), (200, &body));
    assert_eq!(available(&h, "fsh-024").await?, 7);
    // The same order id with other lines is a conflict.
    let (status, conflict) = reserve(&h, "ord-t1", json!([{"product_id": "fsh-024", "quantity": 1}])).await?;
    assert_eq!((status, conflict["error"].as_str()), (409, Some("reservation_conflict")), "{conflict}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn commit_and_release_move_the_stock_once() -> Result<()> {
    let h = catalog()?;
    reserve(&h, "ord-paid", json!([{"product_id": "fsh-024", "quantity": 4}])).await?;
    reserve(&h, "ord-dropped", json!([{"product_id": "fsh-024", "quantity": 2}])).await?;
    assert_eq!(available(&h, "fsh-024").await?, 4);

    for _ in 0..2 {
        let (status, body) = call(&h, "POST", "/stock/commit", Some(json!({"order_id": "ord-paid"}))).await?;
        assert_eq!((status, body["state"].as_str()), (200, Some("committed")), "{body}");
        let (status, body) = call(&h, "POST", "/stock/release", Some(json!({"order_id": "ord-dropped"}))).await?;
        assert_eq!((status, body["state"].as_str()), (200, Some("released")), "{body}");
    }
    let (_, level) = call(&h, "GET", "/stock/fsh-024", None).await?;
    assert_eq!(
        (level["sold"].as_i64(), level["reserved"].as_i64(), level["available"].as_u64()),
        (Some(4), Some(0), Some(6))
    );

    // A released order cannot be paid; a paid one cancelled gives its units back.
    let (status, body) = call(&h, "POST", "/stock/commit", Some(json!({"order_id": "ord-dropped"}))).await?;
    assert_eq!(
        (status, body["error"].as_str(), body["state"].as_str()),
        (409, Some("reservation_conflict"), Some("released"))
    );
    let (status, _) = call(&h, "POST", "/stock/release", Some(json!({"order_id": "ord-paid"}))).await?;
    assert_eq!(status, 200);
    assert_eq!(available(&h, "fsh-024").await?, 10);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn refusals_say_what_is_wrong() -> Result<()> {
    let h = catalog()?;
    let cases = [
        (json!([{"product_id": "fsh-999", "quantity": 1}]), 422, "unknown_product"),
        (json!([{"product_id": "tec-001", "quantity": 1}]), 422, "unknown_product"),
        (json!([{"product_id": "fsh-024", "quantity": 0}]), 422, "invalid_quantity"),
        (json!([{"product_id": "fsh-024", "quantity": 10001}]), 422, "invalid_quantity"),
        (json!([]), 422, "empty_order"),
        (json!([{"product_id": "fsh-024", "quantity": 11}]), 409, "out_of_stock"),
        (json!([{"product_id": "fsh-024"}]), 400, "bad_request"),
    ];
    for (lines, status, code) in cases {
        let (got, body) = reserve(&h, "ord-bad", lines.clone()).await?;
        assert_eq!((got, body["error"].as_str()), (status, Some(code)), "{lines}: {body}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    }
    let (_, body) = reserve(&h, "ord-bad", json!([{"product_id": "tec-001", "quantity": 1}])).await?;
    assert_eq!(body["message"], "fashion has no product tec-001");
    let (_, body) = reserve(&h, "ord-bad", json!([{"product_id": "fsh-024", "quantity": 11}])).await?;
    assert_eq!(
        (body["product_id"].as_str(), body["name"].as_str(), body["requested"].as_u64(), body["available"].as_u64()),
        (Some("fsh-024"), Some("Block-Heel Leather Pumps"), Some(11), Some(10))
    );
    // Refusals hold nothing, and the refused order id stays usable.
    assert_eq!(available(&h, "fsh-024").await?, 10);
    let (status, _) = reserve(&h, "ord-bad", json!([{"product_id": "fsh-024", "quantity": 10}])).await?;
    assert_eq!(status, 200);

    let (status, body) =
        call(&h, "POST", "/stock/reserve", Some(json!({"order_id": "has space", "lines": []}))).await?;
    assert_eq!((status, body["error"].as_str()), (400, Some("bad_request")), "{body}");
    let (status, body) = call(&h, "POST", "/stock/release", Some(json!({"order_id": "ord-never"}))).await?;
    assert_eq!((status, body["error"].as_str()), (404, Some("unknown_reservation")));
    let (status, body) = call(&h, "GET", "/stock/fsh-999", None).await?;
    assert_eq!((status, body["error"].as_str()), (422, Some("unknown_product")));
    let (status, _) = call(&h, "GET", "/stock/reserve", None).await?;
    assert_eq!(status, 405);
    let (status, body) = call(&h, "GET", "/nowhere", None).await?;
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_quote_prices_without_holding() -> Result<()> {
    let h = catalog()?;
    reserve(&h, "ord-q", json!([{"product_id": "fsh-024", "quantity": 6}])).await?;
    let (status, body) = call(
        &h,
        "POST",
        "/quote",
        Some(json!({"brand": "fashion", "lines": [{"product_id": "fsh-024", "quantity": 1}, {"product_id": "fsh-001", "quantity": 1}, {"product_id": "fsh-024", "quantity": 1}]})),
    )
    .await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["lines"].as_array().map(Vec::len), Some(2), "duplicates merge: {body}");
    assert_eq!((body["lines"][0]["quantity"].as_u64(), body["lines"][0]["available"].as_u64()), (Some(2), Some(4)));
    assert_eq!(body["subtotal"]["amount_minor"], 2 * 9900 + 7565);
    assert_eq!(available(&h, "fsh-024").await?, 4, "a quote holds nothing");
    Ok(())
}

/// Fifty orders at once for the ten pairs of fsh-024, one pair each.
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_reservations_never_oversell() -> Result<()> {
    let h = std::sync::Arc::new(catalog()?);
    let calls = (0..50).map(|i| {
        let h = h.clone();
        tokio::spawn(async move {
            reserve(&h, &format!("ord-rush-{i}"), json!([{"product_id": "fsh-024", "quantity": 1}])).await
        })
    });
    let mut won = 0;
    for call in calls {
        let (status, body) = call.await??;
        match status {
            200 => won += 1,
            409 => assert_eq!(body["error"], "out_of_stock", "{body}"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(won, 10);
    let (_, level) = call(&h, "GET", "/stock/fsh-024", None).await?;
    assert_eq!((level["reserved"].as_i64(), level["available"].as_u64()), (Some(10), Some(0)));
    Ok(())
}

fn recommend_event(data: Value) -> cloudevents::Event {
    let mut request = event(types::PRODUCT_RECOMMEND, data.clone());
    request.set_extension(ext::CORRELATION, data["request_id"].as_str().unwrap_or_default().to_string());
    request.set_extension(ext::BRAND, "fashion");
    request.set_extension(ext::CONVERSATION, "cv-rec");
    request
}

async fn recommend(h: &Harness, request: Value) -> Result<ProductRecommendResult> {
    let sent = h.send(recommend_event(request)).await;
    let reply = sent.one(types::PRODUCT_RECOMMEND_RESULT)?;
    assert_eq!(reply.source().to_string(), "/agent-store/product-catalog");
    for (name, value) in [(ext::BRAND, "fashion"), (ext::CONVERSATION, "cv-rec")] {
        assert_eq!(reply.extension(name).map(|v| v.to_string()).as_deref(), Some(value));
    }
    assert!(reply.extension(ext::CORRELATION).is_some());
    Ok(serde_json::from_value(data(&reply))?)
}

fn ids(result: &ProductRecommendResult) -> Vec<&str> {
    result.recommendations.iter().map(|r| r.product.id.as_str()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn recommendations_around_a_product_and_a_cart() -> Result<()> {
    let h = catalog()?;
    let result = recommend(
        &h,
        json!({"request_id": "rc-1", "brand": "fashion", "conversation": "cv-rec", "product_id": "fsh-001", "cart": ["fsh-021"], "limit": 8}),
    )
    .await?;
    assert_eq!(result.request_id, "rc-1");
    assert_eq!(result.conversation.as_ref().map(|c| c.as_str()), Some("cv-rec"));
    let got = ids(&result);
    assert_eq!(got.len(), 8, "{got:?}");
    // By score, related and complementary interleaved: fsh-002 (first related,
    // 0.95), fsh-026 (second complement of the dress, 0.85, and a complement of
    // the sandals in the cart too, +0.05), fsh-005 (third related: the sold-out
    // fsh-003 before it is skipped), fsh-029 (third complement, 0.80); then
    // bestsellers, which never outrank a pick tied to the product or the cart.
    let anchored: Vec<(&str, RecommendationKind)> =
        result.recommendations.iter().take(4).map(|r| (r.product.id.as_str(), r.kind)).collect();
    assert_eq!(
        anchored,
        [
            ("fsh-002", RecommendationKind::Related),
            ("fsh-026", RecommendationKind::Complementary),
            ("fsh-005", RecommendationKind::Related),
            ("fsh-029", RecommendationKind::Complementary),
        ],
        "{got:?}"
    );
    assert!(result.recommendations[4..].iter().all(|r| r.kind == RecommendationKind::Popular), "{got:?}");
    assert!(!got.contains(&"fsh-003"), "sold out in the file: {got:?}");
    assert!(!got.contains(&"fsh-001") && !got.contains(&"fsh-021"), "{got:?}");
    let mut unique = got.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), got.len(), "{got:?}");
    for r in &result.recommendations {
        assert!(r.product.stock > 0 && (0.0..=1.0).contains(&r.score), "{r:?}");
    }
    assert!(result.recommendations.windows(2).all(|w| w[0].score >= w[1].score));
    // The dress on sale carries its promotion in recommendations too.
    let only_popular =
        recommend(&h, json!({"request_id": "rc-2", "brand": "fashion", "kinds": ["popular"], "limit": 50})).await?;
    assert!(only_popular.recommendations.iter().all(|r| r.kind == RecommendationKind::Popular));
    let dress = only_popular.recommendations.iter().find(|r| r.product.id == "fsh-001").expect("fsh-001 is popular");
    assert_eq!(dress.product.sale_price.as_ref().map(|m| m.amount_minor), Some(7565));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn what_sold_out_live_is_neither_recommended_nor_in_stock() -> Result<()> {
    let h = catalog()?;
    // fsh-031 (1 left) is related to fsh-029.
    let before =
        recommend(&h, json!({"request_id": "rc-3", "brand": "fashion", "product_id": "fsh-029", "limit": 50})).await?;
    assert!(ids(&before).contains(&"fsh-031"), "{:?}", ids(&before));
    let (status, _) = reserve(&h, "ord-last", json!([{"product_id": "fsh-031", "quantity": 1}])).await?;
    assert_eq!(status, 200);
    let after =
        recommend(&h, json!({"request_id": "rc-4", "brand": "fashion", "product_id": "fsh-029", "limit": 50})).await?;
    assert!(!ids(&after).contains(&"fsh-031"), "{:?}", ids(&after));

    // Search shows the live figure, and in_stock_only leaves the product out.
    let query = |in_stock_only: bool| {
        event(
            types::PRODUCT_QUERY,
            json!({"request_id": "q-1", "brand": "fashion", "text": "Tortoiseshell Cat-Eye Sunglasses", "in_stock_only": in_stock_only}),
        )
    };
    let found: ProductQueryResult =
        serde_json::from_value(data(&h.send(query(false)).await.one(types::PRODUCT_QUERY_RESULT)?))?;
    let sunglasses = found.products.iter().find(|p| p.id == "fsh-031").expect("found by name");
    assert_eq!(sunglasses.stock, 0);
    let found: ProductQueryResult =
        serde_json::from_value(data(&h.send(query(true)).await.one(types::PRODUCT_QUERY_RESULT)?))?;
    assert!(found.products.iter().all(|p| p.id != "fsh-031"));

    // Released, it is back.
    call(&h, "POST", "/stock/release", Some(json!({"order_id": "ord-last"}))).await?;
    let again =
        recommend(&h, json!({"request_id": "rc-5", "brand": "fashion", "product_id": "fsh-029", "limit": 50})).await?;
    assert!(ids(&again).contains(&"fsh-031"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_recommend_requests_are_bad_events() -> Result<()> {
    let h = catalog()?;
    let sent = h.send(recommend_event(json!({"request_id": "rc-x", "kinds": ["related"]}))).await;
    assert!(sent.error().is_some(), "a request without a brand is refused");
    let sent = h.send(recommend_event(json!({"request_id": "rc-y", "brand": "fashion", "kinds": ["similar"]}))).await;
    assert!(sent.error().is_some(), "an unknown kind is refused");
    // An unknown brand has nothing to recommend; that is an answer, not an error.
    let result = recommend(&h, json!({"request_id": "rc-z", "brand": "pets"})).await?;
    assert!(result.recommendations.is_empty());
    Ok(())
}
