//! What the customer is told about their order, in the brand's voice and the
//! customer's language.
//!
//! Status notices (confirmed, shipped, delivered, cancelled) go to the customer
//! as a `store.chat.response` `from: system`, signed with the brand's seller:
//! Luna (fashion, stylish), Max (tech, precise), Sofia (home, warm), Bella
//! (beauty, caring), Pixel (gaming, energetic). Another brand gets the
//! neutral voice, signed by its seller when the brand was onboarded with a
//! persona ([`crate::brands`]), unsigned otherwise. Rejection messages are for the seller to relay in its own
//! voice, so they are plain. English, Spanish and Portuguese; English for any
//! other language.

use agent_store_events::stock::MAX_QUANTITY;
use agent_store_events::{DEMO_BRANDS, Money, OrderLine, RejectionReason};
use agent_store_text::Language;

/// The language of what the customer is told: the order's, English for any
/// language the notices are not written in.
pub fn language(tag: Option<&str>) -> Language {
    tag.and_then(Language::from_tag).unwrap_or_default()
}

/// One notice about an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice<'a> {
    /// `lines` are listed when one of them is a variant (a size, a colour), so
    /// the customer sees which one was paid for.
    Confirmed {
        total: &'a Money,
        lines: &'a [OrderLine],
    },
    Shipped {
        carrier: &'a str,
        tracking_number: &'a str,
        tracking_url: Option<&'a str>,
    },
    Delivered,
    Cancelled {
        reason: &'a str,
        refund: bool,
    },
}

/// The templates of one language: `{id}`, `{total}`, `{carrier}`, `{tracking}` and
/// `{reason}` are filled in.
struct Templates {
    confirmed: &'static str,
    shipped: &'static str,
    delivered: &'static str,
    cancelled: &'static str,
    refund: &'static str,
}

struct Voice {
    brand: &'static str,
    en: Templates,
    es: Templates,
    pt: Templates,
}

#[rustfmt::skip]
const VOICES: &[Voice] = &[
    Voice {
        brand: "fashion",
        en: Templates {
            confirmed: "Payment received! ✨ Order {id} ({total}) is confirmed and your pieces are being styled for the trip.",
            shipped: "Your look is on its way! 👗 Order {id} left with {carrier}, tracking number {tracking}.",
            delivered: "Order {id} has arrived! 💃 I can't wait to hear how you style it.",
            cancelled: "Order {id} is cancelled: {reason}.",
            refund: "Your payment will be refunded.",
        },
        es: Templates {
            confirmed: "¡Pago recibido! ✨ Tu pedido {id} ({total}) está confirmado y estamos preparando tus prendas con todo el estilo.",
            shipped: "¡Tu look va en camino! 👗 El pedido {id} salió con {carrier}, número de seguimiento {tracking}.",
            delivered: "¡Tu pedido {id} ya llegó! 💃 Me encantará saber cómo lo combinas.",
            cancelled: "Tu pedido {id} fue cancelado: {reason}.",
            refund: "Te devolveremos el pago.",
        },
        pt: Templates {
            confirmed: "Pagamento recebido! ✨ Seu pedido {id} ({total}) está confirmado e suas peças estão sendo preparadas com todo o estilo.",
            shipped: "Seu look está a caminho! 👗 O pedido {id} saiu com a {carrier}, código de rastreio {tracking}.",
            delivered: "Seu pedido {id} chegou! 💃 Mal posso esperar para saber como você vai usar.",
            cancelled: "Seu pedido {id} foi cancelado: {reason}.",
            refund: "Seu pagamento será reembolsado.",
        },
    },
    Voice {
        brand: "tech",
        en: Templates {
            confirmed: "Payment confirmed: order {id}, {total}. Next step: dispatch. I'll send the tracking number as soon as it ships.",
            shipped: "Order {id} shipped via {carrier}. Tracking number: {tracking}.",
            delivered: "Order {id}: delivered. If anything needs setting up, ask me.",
            cancelled: "Order {id} cancelled. Reason: {reason}.",
            refund: "The payment will be refunded to the original method.",
        },
        es: Templates {
            confirmed: "Pago confirmado: pedido {id}, {total}. Siguiente paso: despacho. Te enviaré el número de seguimiento en cuanto salga.",
            shipped: "Pedido {id} enviado con {carrier}. Número de seguimiento: {tracking}.",
            delivered: "Pedido {id}: entregado. Si necesitas ayuda con la configuración, pregúntame.",
            cancelled: "Pedido {id} cancelado. Motivo: {reason}.",
            refund: "El pago se reembolsará al medio original.",
        },
        pt: Templates {
            confirmed: "Pagamento confirmado: pedido {id}, {total}. Próximo passo: envio. Mando o código de rastreio assim que sair.",
            shipped: "Pedido {id} enviado pela {carrier}. Código de rastreio: {tracking}.",
            delivered: "Pedido {id}: entregue. Se precisar de ajuda com a configuração, é só me chamar.",
            cancelled: "Pedido {id} cancelado. Motivo: {reason}.",
            refund: "O pagamento será reembolsado no meio original.",
        },
    },
    Voice {
        brand: "home",
        en: Templates {
            confirmed: "Thank you so much! 🏡 Your payment for order {id} ({total}) arrived, and we're lovingly preparing everything for your home.",
            shipped: "Good news: order {id} is on its way to you with {carrier} (tracking {tracking}). 🚚",
            delivered: "Order {id} is home! 🏡 I hope it makes your space feel even cosier.",
            cancelled: "Your order {id} has been cancelled: {reason}.",
            refund: "Your payment will be refunded, of course.",
        },
        es: Templates {
            confirmed: "¡Muchas gracias! 🏡 Recibimos el pago del pedido {id} ({total}) y estamos preparando todo con cariño para tu hogar.",
            shipped: "Buenas noticias: el pedido {id} va camino a tu casa con {carrier} (seguimiento {tracking}). 🚚",
            delivered: "¡El pedido {id} ya está en casa! 🏡 Ojalá haga tu espacio aún más acogedor.",
            cancelled: "Tu pedido {id} fue cancelado: {reason}.",
            refund: "Por supuesto, te devolveremos el pago.",
        },
        pt: Templates {
            confirmed: "Muito obrigada! 🏡 O pagamento do pedido {id} ({total}) chegou e estamos preparando tudo com carinho para a sua casa.",
            shipped: "Boa notícia: o pedido {id} está a caminho com a {carrier} (rastreio {tracking}). 🚚",
            delivered: "O pedido {id} chegou em casa! 🏡 Espero que deixe seu cantinho ainda mais aconchegante.",
            cancelled: "Seu pedido {id} foi cancelado: {reason}.",
            refund: "Claro, seu pagamento será reembolsado.",
        },
    },
    Voice {
        brand: "beauty",
        en: Templates {
            confirmed: "Your payment for order {id} ({total}) is confirmed 💖 We're packing your goodies with care.",
            shipped: "Your self-care is on its way 💆 Order {id} shipped with {carrier}, tracking {tracking}.",
            delivered: "Order {id} has been delivered 💖 Enjoy, and tell me how your skin feels!",
            cancelled: "Your order {id} was cancelled: {reason}.",
            refund: "Don't worry, your payment will be refunded.",
        },
        es: Templates {
            confirmed: "Tu pago del pedido {id} ({total}) está confirmado 💖 Estamos empacando tus productos con mucho cuidado.",
            shipped: "Tu momento de autocuidado va en camino 💆 El pedido {id} salió con {carrier}, seguimiento {tracking}.",
            delivered: "El pedido {id} fue entregado 💖 ¡Disfrútalo y cuéntame cómo se siente tu piel!",
            cancelled: "Tu pedido {id} fue cancelado: {reason}.",
            refund: "No te preocupes, te devolveremos el pago.",
        },
        pt: Templates {
            confirmed: "O pagamento do pedido {id} ({total}) está confirmado 💖 Estamos embalando seus produtos com todo o cuidado.",
            shipped: "Seu momento de autocuidado está a caminho 💆 O pedido {id} saiu com a {carrier}, rastreio {tracking}.",
            delivered: "O pedido {id} foi entregue 💖 Aproveite e me conte como sua pele ficou!",
            cancelled: "Seu pedido {id} foi cancelado: {reason}.",
            refund: "Não se preocupe, seu pagamento será reembolsado.",
        },
    },
    Voice {
        brand: "gaming",
        en: Templates {
            confirmed: "GG! 🎮 Payment locked in for order {id} ({total}). Your loot is being prepped, shipping is next!",
            shipped: "Loot incoming! 🚀 Order {id} is on the move with {carrier}, tracking {tracking}.",
            delivered: "Order {id} delivered! 🏆 Time to play, have fun!",
            cancelled: "Order {id} got cancelled: {reason}.",
            refund: "Your payment will be refunded, no worries.",
        },
        es: Templates {
            confirmed: "¡GG! 🎮 Pago asegurado para el pedido {id} ({total}). Estamos preparando tu botín, ¡lo siguiente es el envío!",
            shipped: "¡Botín en camino! 🚀 El pedido {id} va con {carrier}, seguimiento {tracking}.",
            delivered: "¡Pedido {id} entregado! 🏆 ¡A jugar, que lo disfrutes!",
            cancelled: "El pedido {id} fue cancelado: {reason}.",
            refund: "Te devolveremos el pago, tranquilo.",
        },
        pt: Templates {
            confirmed: "GG! 🎮 Pagamento garantido para o pedido {id} ({total}). Seu loot está sendo preparado, agora é o envio!",
            shipped: "Loot a caminho! 🚀 O pedido {id} está com a {carrier}, rastreio {tracking}.",
            delivered: "Pedido {id} entregue! 🏆 Hora de jogar, divirta-se!",
            cancelled: "O pedido {id} foi cancelado: {reason}.",
            refund: "Seu pagamento será reembolsado, fica tranquilo.",
        },
    },
];

/// For a brand without a voice here: plain, and unsigned.
#[rustfmt::skip]
const NEUTRAL: Voice = Voice {
    brand: "",
    en: Templates {
        confirmed: "Payment received: order {id} ({total}) is confirmed.",
        shipped: "Order {id} has shipped with {carrier}, tracking number {tracking}.",
        delivered: "Order {id} has been delivered.",
        cancelled: "Order {id} was cancelled: {reason}.",
        refund: "Your payment will be refunded.",
    },
    es: Templates {
        confirmed: "Pago recibido: el pedido {id} ({total}) está confirmado.",
        shipped: "El pedido {id} fue enviado con {carrier}, número de seguimiento {tracking}.",
        delivered: "El pedido {id} fue entregado.",
        cancelled: "El pedido {id} fue cancelado: {reason}.",
        refund: "Te devolveremos el pago.",
    },
    pt: Templates {
        confirmed: "Pagamento recebido: o pedido {id} ({total}) está confirmado.",
        shipped: "O pedido {id} foi enviado pela {carrier}, código de rastreio {tracking}.",
        delivered: "O pedido {id} foi entregue.",
        cancelled: "O pedido {id} foi cancelado: {reason}.",
        refund: "Seu pagamento será reembolsado.",
    },
};

fn voice(brand: &str) -> &'static Voice {
    VOICES.iter().find(|v| v.brand == brand).unwrap_or(&NEUTRAL)
}

fn templates(voice: &Voice, lang: Language) -> &Templates {
    match lang {
        Language::En => &voice.en,
        Language::Es => &voice.es,
        Language::Pt => &voice.pt,
    }
}

/// The brand's seller, who signs the notices; `None` for a brand without a voice.
pub fn seller(brand: &str) -> Option<&'static str> {
    let known = VOICES.iter().any(|v| v.brand == brand);
    DEMO_BRANDS.iter().find(|b| known && b.id == brand).map(|b| b.agent)
}

/// The text of a notice about order `id`, signed by the brand's built-in seller.
pub fn notice(brand: &str, lang: Language, id: &str, notice: &Notice<'_>) -> String {
    notice_by(brand, seller(brand), lang, id, notice)
}

/// The text of a notice about order `id`, signed by `signer` (the brand's
/// seller, built-in or learned), or unsigned.
pub fn notice_by(brand: &str, signer: Option<&str>, lang: Language, id: &str, notice: &Notice<'_>) -> String {
    let t = templates(voice(brand), lang);
    let mut text = match notice {
        Notice::Confirmed { total, lines } => {
            let mut text = t.confirmed.replace("{total}", &total.to_string());
            if lines.iter().any(|l| l.variant.is_some()) {
                for line in lines.iter() {
                    text.push_str(&format!("\n• {} × {}", line.quantity, line.name));
                    if let Some(variant) = &line.variant {
                        text.push_str(&format!(" ({variant})"));
                    }
                }
            }
            text
        }
        Notice::Shipped { carrier, tracking_number, tracking_url } => {
            let mut text = t.shipped.replace("{carrier}", carrier).replace("{tracking}", tracking_number);
            if let Some(url) = tracking_url {
                text.push('\n');
                text.push_str(url);
            }
            text
        }
        Notice::Delivered => t.delivered.to_string(),
        Notice::Cancelled { reason, refund } => {
            let reason = reason.trim().trim_end_matches('.');
            let mut text = t.cancelled.replace("{reason}", reason);
            if *refund {
                text.push(' ');
                text.push_str(t.refund);
            }
            text
        }
    };
    text = text.replace("{id}", id);
    if let Some(seller) = signer {
        text.push_str("\n— ");
        text.push_str(seller);
    }
    text
}

/// The reason given when a payment provider calls a payment off.
pub fn payment_cancelled(lang: Language) -> &'static str {
    match lang {
        Language::En => "the payment was not completed",
        Language::Es => "el pago no se completó",
        Language::Pt => "o pagamento não foi concluído",
    }
}

/// The reason given when a cancellation request names none.
pub fn cancelled_on_request(lang: Language) -> &'static str {
    match lang {
        Language::En => "it was cancelled at your request",
        Language::Es => "se canceló a tu pedido",
        Language::Pt => "foi cancelado a seu pedido",
    }
}

/// One sentence a seller can relay when an order is refused.
pub fn rejection(lang: Language, reason: &RejectionReason, name: Option<&str>) -> String {
    use RejectionReason::*;
    let product = |id: &str| name.map(str::to_string).unwrap_or_else(|| id.to_string());
    match (reason, lang) {
        (OutOfStock { product_id, available: 0 }, Language::En) => {
            format!("Sorry, {} just sold out, so the order was not placed.", product(product_id.as_str()))
        }
        (OutOfStock { product_id, available: 0 }, Language::Es) => {
            format!("Lo siento, {} se acaba de agotar, así que el pedido no se realizó.", product(product_id.as_str()))
        }
        (OutOfStock { product_id, available: 0 }, Language::Pt) => {
            format!("Desculpe, {} acabou de esgotar, então o pedido não foi feito.", product(product_id.as_str()))
        }
        (OutOfStock { product_id, available }, Language::En) => format!(
            "Sorry, only {available} of {} left, so the order was not placed; it can be ordered with {available}.",
            product(product_id.as_str())
        ),
        (OutOfStock { product_id, available }, Language::Es) => format!(
            "Lo siento, solo quedan {available} de {}, así que el pedido no se realizó; se puede pedir con {available}.",
            product(product_id.as_str())
        ),
        (OutOfStock { product_id, available }, Language::Pt) => format!(
            "Desculpe, só restam {available} de {}, então o pedido não foi feito; dá para pedir com {available}.",
            product(product_id.as_str())
        ),
        (UnknownProduct { product_id }, Language::En) => {
            format!("Sorry, {product_id} is not in our catalog, so the order was not placed.")
        }
        (UnknownProduct { product_id }, Language::Es) => {
            format!("Lo siento, {product_id} no está en nuestro catálogo, así que el pedido no se realizó.")
        }
        (UnknownProduct { product_id }, Language::Pt) => {
            format!("Desculpe, {product_id} não está no nosso catálogo, então o pedido não foi feito.")
        }
        (InvalidQuantity { product_id, quantity }, Language::En) => format!(
            "An order can have 1 to {} units of each product, and {quantity} of {} were asked for, so the order was not placed.",
            MAX_QUANTITY,
            product(product_id.as_str())
        ),
        (InvalidQuantity { product_id, quantity }, Language::Es) => format!(
            "Un pedido puede llevar de 1 a {} unidades de cada producto y se pidieron {quantity} de {}, así que el pedido no se realizó.",
            MAX_QUANTITY,
            product(product_id.as_str())
        ),
        (InvalidQuantity { product_id, quantity }, Language::Pt) => format!(
            "Um pedido pode ter de 1 a {} unidades de cada produto e foram pedidas {quantity} de {}, então o pedido não foi feito.",
            MAX_QUANTITY,
            product(product_id.as_str())
        ),
        (EmptyOrder, Language::En) => "The order had no products, so nothing was placed.".into(),
        (EmptyOrder, Language::Es) => "El pedido no tenía productos, así que no se realizó.".into(),
        (EmptyOrder, Language::Pt) => "O pedido não tinha produtos, então não foi feito.".into(),
        (TotalMismatch { expected, actual }, Language::En) => format!(
            "The total is now {actual}, not the {expected} shown (a price or promotion changed), so the order was not placed; it can be placed again at the new total."
        ),
        (TotalMismatch { expected, actual }, Language::Es) => format!(
            "El total ahora es {actual}, no los {expected} mostrados (cambió un precio o una promoción), así que el pedido no se realizó; se puede hacer de nuevo con el nuevo total."
        ),
        (TotalMismatch { expected, actual }, Language::Pt) => format!(
            "O total agora é {actual}, não os {expected} mostrados (mudou um preço ou uma promoção), então o pedido não foi feito; dá para fazer de novo com o novo total."
        ),
        (Other { message }, _) => message.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn languages_by_primary_tag() {
        assert_eq!(language(Some("pt-BR")), Language::Pt);
        assert_eq!(language(Some("ES")), Language::Es);
        assert_eq!(language(Some("es_MX")), Language::Es);
        assert_eq!(language(Some("fr")), Language::En);
        assert_eq!(language(None), Language::En);
    }

    #[test]
    fn every_voice_fills_every_placeholder_and_signs() {
        let total = Money::new(6892, "USD");
        let notices = [
            Notice::Confirmed { total: &total, lines: &[] },
            Notice::Shipped {
                carrier: "UPS",
                tracking_number: "1Z999",
                tracking_url: Some("https://ups.example/1Z999"),
            },
            Notice::Delivered,
            Notice::Cancelled { reason: "out of time.", refund: true },
        ];
        for brand in ["fashion", "tech", "home", "beauty", "gaming", "pets"] {
            for lang in [Language::En, Language::Es, Language::Pt] {
                for n in &notices {
                    let text = notice(brand, lang, "ord-1", n);
                    assert!(!text.contains('{'), "{brand} {lang:?}: {text}");
                    assert!(text.contains("ord-1"), "{brand} {lang:?}: {text}");
                    match n {
                        Notice::Confirmed { .. } => assert!(text.contains("USD 68.92"), "{text}"),
                        Notice::Shipped { .. } => assert!(text.contains("UPS") && text.contains("1Z999"), "{text}"),
                        Notice::Cancelled { .. } => {
                            assert!(text.contains("out of time") && !text.contains("time.."), "{text}")
                        }
                        Notice::Delivered => {}
                    }
                    match seller(brand) {
                        Some(name) => assert!(text.ends_with(&format!("— {name}")), "{text}"),
                        None => assert!(!text.contains('—'), "{text}"),
                    }
                }
            }
        }
        assert_eq!(seller("gaming"), Some("Pixel"));
        assert_eq!(seller("pets"), None);
    }

    #[test]
    fn a_learned_brand_speaks_neutrally_signed_by_its_seller() {
        let total = Money::new(100, "USD");
        let text =
            notice_by("sports", Some("Leo"), Language::Es, "ord-1", &Notice::Confirmed { total: &total, lines: &[] });
        assert!(text.starts_with("Pago recibido") && text.ends_with("\n— Leo"), "{text}");
    }

    #[test]
    fn brands_speak_differently() {
        let total = Money::new(100, "USD");
        let confirmed = Notice::Confirmed { total: &total, lines: &[] };
        let texts: std::collections::BTreeSet<String> = ["fashion", "tech", "home", "beauty", "gaming"]
            .iter()
            .map(|b| notice(b, Language::En, "ord-1", &confirmed))
            .collect();
        assert_eq!(texts.len(), 5);
        assert!(notice("tech", Language::Es, "ord-1", &confirmed).starts_with("Pago confirmado"));
        assert!(notice("home", Language::Pt, "ord-1", &confirmed).starts_with("Muito obrigada"));
    }

    #[test]
    fn rejections_name_the_product_and_the_way_out() {
        let reason = RejectionReason::OutOfStock { product_id: "fsh-014".into(), available: 0 };
        assert_eq!(
            rejection(Language::En, &reason, Some("Straw Panama Hat")),
            "Sorry, Straw Panama Hat just sold out, so the order was not placed."
        );
        let reason = RejectionReason::OutOfStock { product_id: "fsh-014".into(), available: 2 };
        assert!(rejection(Language::Pt, &reason, None).contains("só restam 2 de fsh-014"));
        let reason =
            RejectionReason::TotalMismatch { expected: Money::new(6892, "USD"), actual: Money::new(7100, "USD") };
        assert!(rejection(Language::Es, &reason, None).contains("USD 71.00"));
    }
}
