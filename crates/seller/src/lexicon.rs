//! The offline brain's vocabulary: the phrases that signal each intent, in
//! English, Spanish and Portuguese, written as customers type them (accents
//! are folded away before matching; `*` ends a prefix).
//!
//! Kept apart from the rules in [`crate::brain`] so that widening the
//! vocabulary never touches the logic. Words that are also product words
//! somewhere in the catalogs ("bota" is a boot, "muestras" are samples,
//! "cuarto" is a bedroom) are deliberately left out.

/// Hellos, alone or before a request ("Hi! Do you have…").
#[rustfmt::skip]
pub const GREETING: &[&str] = &[
    "hi", "hello", "hey", "hiya", "howdy", "yo", "good morning", "good afternoon", "good evening",
    "how are you", "hi there", "hey there", "greetings", "what s up", "whats up", "sup",
    "hola*", "buenas", "buenos dias", "buen dia", "buenas tardes", "buenas noches", "que tal",
    "como estas", "saludos", "holi",
    "ola", "oi", "oie", "oii", "eae", "eai", "bom dia", "boa tarde", "boa noite", "tudo bem", "tudo bom", "e ai",
    "como vai",
];

/// Thanking the seller.
#[rustfmt::skip]
pub const THANKS: &[&str] = &[
    "thanks", "thank you", "thx", "ty", "cheers", "appreciate it", "much appreciated", "tks",
    "gracias", "muchas gracias", "mil gracias", "te agradezco", "se agradece",
    "obrigado", "obrigada", "valeu", "brigado", "brigada", "obg", "agradeco",
];

/// A bare acknowledgement: not a question, not a request.
#[rustfmt::skip]
pub const ACKNOWLEDGE: &[&str] = &[
    "ok", "okay", "k", "cool", "great", "nice", "perfect", "awesome", "alright", "got it",
    "vale", "genial", "perfecto", "listo", "entendido", "dale", "buenisimo",
    "beleza", "blz", "legal", "perfeito", "otimo", "show", "certo", "entendi", "massa",
];

/// Taking leave, or saying there is nothing else.
#[rustfmt::skip]
pub const GOODBYE: &[&str] = &[
    "bye", "goodbye", "bye bye", "see you", "see ya", "cya", "later", "talk later", "have a good day",
    "have a nice day", "good night", "that s all", "that is all", "nothing else",
    "adios", "chao", "chau", "hasta luego", "hasta pronto", "hasta manana", "nos vemos",
    "eso es todo", "nada mas", "buen dia",
    "tchau", "ate logo", "ate mais", "ate amanha", "falou", "fui", "e so isso", "so isso",
    "mais nada", "nada mais",
];

/// Words that on their own ask for a person.
#[rustfmt::skip]
pub const HUMAN_STRONG: &[&str] = &[
    "human", "a human", "real person", "a person", "someone real", "live agent", "human agent",
    "representative", "operator", "customer service", "customer support", "not a bot",
    "not a robot", "real human", "sales rep", "salesperson", "staff member",
    "humano", "un humano", "una persona", "persona real", "alguien real", "asesor", "asesora",
    "operador", "operadora", "representante", "atencion al cliente", "servicio al cliente",
    "no eres un bot", "vendedor humano", "una persona de verdad",
    "uma pessoa", "pessoa real", "pessoa de verdade", "atendente", "atendimento humano",
    "falar com alguem", "falar com uma pessoa", "sac", "vendedor de verdade",
];

/// Verbs that ask for someone, with [`PERSON`].
#[rustfmt::skip]
pub const TALK: &[&str] = &[
    "talk", "speak", "chat with", "connect me", "transfer me", "put me through", "get me",
    "i want", "need", "call",
    "hablar", "comunicar", "pasame", "pasarme", "comunicarme", "quiero", "necesito", "llamar",
    "falar", "conversar", "passa", "passar", "quero", "preciso", "ligar", "chamar",
];

/// Who [`TALK`] asks for: someone rather than the bot.
#[rustfmt::skip]
pub const PERSON: &[&str] = &[
    "someone", "somebody", "person", "agent", "manager", "supervisor", "people", "employee",
    "alguien", "persona", "agente", "gerente", "encargado", "encargada", "supervisor",
    "empleado", "alguem", "pessoa", "gerente", "responsavel", "funcionario",
];

/// Requests the AI seller must not handle alone: money back, disputes, bulk
/// deals, made-to-order work, changing or cancelling a placed order, legal
/// threats, warranty claims.
#[rustfmt::skip]
pub const BEYOND_SCOPE: &[&str] = &[
    // Returns, refunds, disputes.
    "refund", "refunds", "money back", "return it", "return this", "return my", "return the",
    "to return", "returns", "chargeback", "charge back", "dispute", "reimburse*", "exchange it",
    "exchange for", "reembolso", "reembolsar", "devolucion", "devolver", "devuelvan",
    "mi dinero", "cambiarlo por", "reclamacion formal", "estorno", "devolucao", "devolver",
    "reembolso", "meu dinheiro", "trocar", "troca",
    // Bulk and business pricing.
    "wholesale", "bulk", "b2b", "reseller", "resell", "distributor", "corporate order",
    "for my company", "invoice", "al por mayor", "por mayor", "mayoreo", "mayorista",
    "distribuidor", "para mi empresa", "factura", "atacado", "revenda", "revender",
    "para minha empresa", "nota fiscal", "cnpj",
    // Made to order.
    "custom made", "custom order", "customized", "customised", "personalized", "personalised",
    "engrav*", "made to measure", "tailor made", "a medida", "personalizado", "personalizada",
    "grabado", "grabar mi nombre", "sob medida", "gravacao", "gravar meu nome",
    // Orders already placed.
    "cancel my order", "cancel the order", "cancel order", "change my address",
    "change the address", "cancelar mi pedido", "cancelar el pedido", "cambiar la direccion",
    "cancelar meu pedido", "cancelar o pedido", "mudar o endereco", "trocar o endereco",
    // Legal and warranty claims.
    "lawyer", "sue", "legal action", "consumer protection", "warranty claim", "abogado",
    "demanda", "denuncia", "profeco", "advogado", "processar", "procon", "reclame aqui",
    "acionar a garantia", "reclamar la garantia", "claim the warranty",
];

/// Something went wrong: a faulty, wrong or missing item, a late delivery,
/// bad service.
#[rustfmt::skip]
pub const COMPLAINT: &[&str] = &[
    "broken", "damaged", "defective", "doesn t work", "does not work", "not working",
    "stopped working", "wrong item", "wrong size", "wrong color", "never arrived",
    "hasn t arrived", "has not arrived", "didn t arrive", "did not arrive", "still waiting",
    "complaint", "complain", "disappointed", "terrible", "awful", "worst", "horrible",
    "unacceptable", "ridiculous", "scam", "bad service", "poor service", "not happy",
    "missing item", "is missing", "arrived late", "too late", "nobody answers", "cracked",
    "scratched", "chipped", "torn", "ripped", "faded",
    "roto", "rota", "rotos", "rotas", "danado", "danada", "danados", "danadas", "defectuoso",
    "defectuosa", "defectuosos", "defectuosas", "rayados", "rayadas", "rajados", "rajadas",
    "quebrados", "quebradas", "estragados", "estragadas", "rasgados", "rasgadas", "trincados",
    "trincadas", "arranhados", "arranhadas", "no funciona",
    "dejo de funcionar", "no llego", "no ha llegado", "nunca llego", "sigo esperando",
    "equivocado", "queja", "reclamo", "decepcionado", "decepcionada", "pesimo", "pesima",
    "inaceptable", "ridiculo", "estafa", "mal servicio", "llego tarde", "nadie responde",
    "rajado", "rajada", "rayado", "rayada", "descosido", "molesto", "molesta",
    "quebrado", "quebrada", "com defeito", "defeito", "nao funciona", "parou de funcionar",
    "nao chegou", "nunca chegou", "ainda esperando", "continuo esperando", "veio errado",
    "produto errado", "reclamacao", "pessimo", "pessima", "horrivel", "inaceitavel", "absurdo",
    "golpe", "chegou atrasado", "ninguem responde", "estragado", "estragada", "trincado",
    "trincada", "arranhado", "arranhada", "rasgado", "rasgada", "chateado", "chateada",
    // Frustration said without naming a fault: the service itself is the trouble.
    "driving me crazy", "drives me crazy", "nothing works", "fed up", "sick of", "sick and tired",
    "annoying", "frustrat*", "waste of time", "what a mess",
    "volviendo loco", "volviendo loca", "vuelve loco", "vuelve loca", "nada funciona", "harto",
    "harta", "que fastidio", "frustra*", "perdida de tiempo", "un desastre", "que desastre",
    "ficando louco", "ficando louca", "deixando louco", "deixando louca", "nada funciona",
    "saco cheio", "que raiva", "irritante", "perda de tempo", "nao aguento mais", "um desastre",
    // A parcel that came in a bad state.
    "came open", "arrived open", "came opened", "half empty", "arrived empty", "came empty",
    "leaked", "leaking", "spilled", "spilt",
    "llego abierto", "llego abierta", "vino abierto", "vino abierta", "medio vacio", "medio vacia",
    "llego vacio", "llego vacia", "derramado", "derramada", "se derramo",
    "chegou aberto", "chegou aberta", "veio aberto", "veio aberta", "pela metade", "chegou vazio",
    "chegou vazia", "vazou", "vazando", "derramou",
    // A symptom of a fault: what the product does wrong, or what it did to
    // the customer (see also `brain::keeps_failing` for "keeps …ing").
    "allergic", "allergy", "reaction", "rash", "irritated", "irritation", "itchy", "burns my",
    "broke me out", "breakout", "won t charge", "won t turn on", "won t connect", "doesn t charge",
    "does not charge", "doesn t turn on", "stopped charging", "disconnects", "overheats",
    "overheating", "crashes", "freezes", "fell apart", "falling apart", "came apart", "shrank",
    "shrunk", "peeling", "came off", "fell off", "turned red", "went red",
    "alergia", "alergica", "alergico", "reaccion", "irritacion", "me irrito", "me irrita",
    "ronchas", "sarpullido", "me arde", "ardor", "picazon", "se desconecta*", "se calienta demasiado",
    "se calienta mucho", "se puso roj*", "se me puso roj*",
    "se traba", "se cuelga", "se apaga sol*", "no carga", "no enciende", "no prende",
    "no conecta", "se rompio", "se despego", "se descosio", "se encogio", "se destino",
    "se pelo", "se cayo",
    "alergia", "reacao", "irritacao", "irritou", "coceira", "ardeu", "ardendo", "ficou vermelh*",
    "manchou", "empolou", "desconectando", "desconecta sozinh*", "esquentando", "esquenta demais",
    "travando", "travou", "desliga sozinh*", "nao carrega", "nao liga", "nao conecta",
    "descolou", "descosturou", "encolheu", "desbotou", "soltou", "quebrou", "descascou",
];

/// Asking after an order already placed: where it is, when it arrives.
#[rustfmt::skip]
pub const ORDER_STATUS: &[&str] = &[
    "where is my order", "where s my order", "my order", "order status", "status of my order",
    "tracking", "track my", "track it", "track the order", "track an order", "track order",
    "track the package", "track the parcel", "has it shipped", "shipped yet", "when will it arrive",
    "when will my", "when does it arrive", "delivery status", "my package", "my parcel",
    "where s my", "where is my", "my key",
    "estado de mi pedido", "estado del pedido", "mi pedido", "donde esta mi", "seguimiento",
    "rastrear", "rastreo", "cuando llega", "cuando llegara", "ya lo enviaron", "mi paquete",
    "numero de guia", "cuando me llega", "mi clave",
    "meu pedido", "cade meu", "cade minha", "cade o", "cade a", "cade o meu", "minha chave", "onde esta meu", "status do pedido", "rastreio",
    "rastreamento", "rastrear", "quando chega", "quando vai chegar", "ja foi enviado",
    "codigo de rastreio", "minha encomenda", "meu pacote",
    // The state of a purchase, however it is called.
    "status of my", "status of the order", "state of my", "what happened to my", "estado de mi",
    "estado del pedido", "estado de la compra", "estado de mi compra", "situacion de mi",
    "que paso con mi", "como va mi", "como anda mi", "status da minha", "status do meu",
    "status da compra", "situacao do meu", "situacao da minha", "situacao do pedido",
    "o que aconteceu com meu", "o que aconteceu com minha",
    // News of a shipment, whatever the product is called.
    "any news", "any update", "any updates", "when it ships", "when will it ship",
    "when does it ship", "has it been shipped", "been shipped", "did it ship", "not shipped yet",
    "hasn t shipped", "has not shipped", "when will you ship", "when do you ship",
    "alguna novedad", "alguna noticia", "novedades de mi", "ya salio", "ya la enviaron",
    "ya los enviaron", "ya las enviaron", "cuando lo envian", "cuando la envian", "cuando lo mandan",
    "cuando la mandan", "todavia no llega", "aun no llega", "donde anda mi", "donde anda el",
    "alguma novidade", "alguma noticia", "novidades do meu", "novidades da minha", "ja saiu",
    "ainda nao saiu", "nao saiu ainda", "quando vao enviar", "quando vao mandar", "ja enviaram",
    "foi enviado", "foi enviada", "ja foi enviada", "ja despacharam",
    // When it was due: "it was supposed to arrive yesterday".
    "supposed to arrive", "supposed to come", "supposed to be here", "supposed to be delivered",
    "should have arrived", "should have come", "should be here by", "was due",
    "debia llegar", "deberia haber llegado", "tenia que llegar", "iba a llegar", "tendria que haber llegado",
    "era pra chegar", "era para chegar", "devia ter chegado", "deveria ter chegado", "ia chegar",
    "nao foi despachado", "nao foi despachada", "nao foi enviado", "nao foi enviada",
];

/// A delivery date asked for: with the customer's own ("my monitor"), an
/// order status.
#[rustfmt::skip]
pub const DELIVERY_DATE: &[&str] = &[
    "delivery date", "estimated delivery", "arrival date", "eta", "fecha de entrega",
    "fecha estimada", "fecha de llegada", "data de entrega", "previsao de entrega",
    "prazo de entrega", "data prevista",
];

/// Telling of a purchase already made ("I ordered the cardigan", "lo pedí",
/// "comprei"): with a time it was made, the customer asks after an order.
#[rustfmt::skip]
pub const PURCHASED: &[&str] = &[
    "i ordered", "i bought", "i purchased", "i placed an order", "i placed my order", "we ordered",
    "lo pedi", "la pedi", "los pedi", "las pedi", "pedi", "compre", "hice un pedido", "hice el pedido",
    "hice mi pedido", "pedimos",
    "comprei", "encomendei", "fiz o pedido", "fiz um pedido", "fiz uma compra", "fiz a compra",
];

/// When a purchase was made: "last week", "el lunes", "faz uma semana".
#[rustfmt::skip]
pub const TIME_AGO: &[&str] = &[
    "last week", "last month", "yesterday", "days ago", "weeks ago", "a week ago", "ago",
    "on monday", "on tuesday", "on wednesday", "on thursday", "on friday", "on saturday",
    "on sunday", "last monday", "last friday", "since",
    "hace", "ayer", "semana pasada", "mes pasado", "el lunes", "el martes", "el miercoles",
    "el jueves", "el viernes", "el sabado", "el domingo", "desde",
    "faz", "ha", "ha uma semana", "ha dias", "ontem", "semana passada", "mes passado", "na segunda",
    "na terca", "na quarta", "na quinta", "na sexta", "no sabado", "no domingo", "desde",
];

/// Asking to pay for the cart and place the order.
#[rustfmt::skip]
pub const CHECKOUT: &[&str] = &[
    "checkout", "check out", "pay", "payment", "place the order", "place my order",
    "place order", "place an order", "complete my order", "complete the purchase",
    "complete my purchase", "finish my order", "ready to buy", "ready to order", "buy it all",
    "buy everything", "proceed to", "finalize", "confirm my order", "confirm the order",
    "finalizar", "finalizar compra", "finalizar pedido", "finalizar la compra", "pagar",
    "quiero pagar", "como pago", "hacer el pedido", "hacer pedido", "confirmar pedido",
    "confirmar el pedido", "confirmar la compra", "comprar todo", "realizar el pedido",
    "fechar pedido", "fechar o pedido", "fechar a compra", "fechar compra", "concluir",
    "quero pagar", "como pagar", "confirmar compra", "confirmar a compra", "fazer o pedido",
    "fazer pedido", "finalizar a compra", "comprar tudo",
];

/// Asking what is in the cart, or what it comes to.
#[rustfmt::skip]
pub const VIEW_CART: &[&str] = &[
    "cart", "basket", "bag", "what s in my", "what did i add", "my total", "the total",
    "how much is my", "how much do i owe", "what do i have",
    "carrito", "cesta", "mi carro", "el total", "cuanto llevo", "que tengo", "que llevo",
    "carrinho", "sacola", "o total", "quanto deu", "quanto ficou", "o que eu tenho",
];

/// Taking something out of the cart, changing a quantity, emptying it.
#[rustfmt::skip]
pub const CHANGE_CART: &[&str] = &[
    "remove", "delete", "take out", "take off", "drop the", "get rid of", "don t want",
    "do not want", "no longer want", "change the quantity", "change quantity", "make it",
    "instead of", "only one", "just one", "only want", "empty my", "empty the cart",
    "empty the bag", "empty the basket", "empty it", "empty cart", "clear my", "clear the",
    "update the", "reduce", "less", "one less",
    "quita", "quitar", "quitame", "quitalo", "quitala", "saca", "sacar", "sacame", "elimina",
    "eliminar", "borra", "borrar", "cambia la cantidad", "cambiar la cantidad", "mejor solo",
    "solo uno", "solo una", "vacia el", "vacia mi", "vaciar el", "vaciar mi", "vacialo", "ya no quiero", "no quiero el", "no quiero la",
    "remove", "remover", "remova", "tira", "tirar", "tire", "exclui", "excluir", "exclua",
    "apaga", "apagar", "muda a quantidade", "mudar a quantidade", "altera", "alterar", "so um",
    "so uma", "esvaziar o", "esvaziar meu", "esvazia o", "esvazia meu", "nao quero mais", "nao quero o", "nao quero a", "diminui",
];

/// Putting a product in the cart ("I'll take it", "me lo llevo").
#[rustfmt::skip]
pub const ADD: &[&str] = &[
    "add", "put it in", "put them in", "put in my", "i ll take", "ill take", "i will take",
    "put", "i want it", "i want this", "i want that", "i want the", "i want them", "i ll buy",
    "i ll get", "take it", "take that", "take this", "give me", "i ll have", "i d like the",
    "i would like the", "buy this", "buy that", "buy it", "buy the", "add to cart", "get me the",
    "agrega", "agregar", "agregame", "agregalo", "agregala", "anade", "anadir", "anademe",
    "anadelo", "pon", "ponme", "ponlo", "ponla", "me lo llevo", "me la llevo", "me los llevo",
    "me las llevo", "me llevo", "lo quiero", "la quiero", "los quiero", "las quiero", "quiero ese",
    "quiero esa", "quiero este", "quiero esta", "quiero el", "quiero la", "lo compro",
    "la compro", "dame", "compro el", "compro la", "me quedo con",
    "adiciona", "adicionar", "adicione", "coloca", "colocar", "coloque", "poe", "vou levar",
    "vou querer", "quero esse", "quero essa", "quero este", "quero esta", "quero o", "quero a",
    "eu quero esse", "pode adicionar", "me ve", "vou comprar o", "vou comprar a", "compro o",
    "fico com",
    // Taking, said casually.
    "i ll grab", "ill grab", "i will grab", "let me grab", "i ll go with", "i ll go for",
    "i will go with", "voy a llevar", "voy a querer", "me voy a llevar", "me quedo el",
    "me quedo la", "vou pegar", "vou ficar com", "quero levar",
    // The choice made: "that's the one", "ese mismo", "é esse".
    "that s the one", "this is the one", "that one it is", "ese mismo", "esa misma", "ese es",
    "esa es", "es ese", "es esa", "esse mesmo", "essa mesma", "e esse", "e essa", "esse ai",
    // Asked to be sent ("mándame el slate en gris", "send me the blue one").
    "send me the", "send me that", "send me this", "ship me the", "mandame el", "mandame la",
    "mandame los", "mandame las", "enviame el", "enviame la", "me manda o", "me manda a",
    "me manda os", "me manda as", "me envia o", "me envia a",
    // The ones named, in the plural ("quiero las toallas, las grises").
    "i want those", "i want these", "quiero los", "quiero las", "quiero estos", "quiero estas",
    "quiero esos", "quiero esas", "quero os", "quero as", "quero esses", "quero essas",
];

/// Asking for a suggestion: what sells, what is best, a gift idea.
#[rustfmt::skip]
pub const RECOMMEND: &[&str] = &[
    "recommend*", "suggest*", "what should i", "what would you", "best seller", "bestseller*",
    "best selling", "most popular", "popular", "trending", "what s hot", "gift idea*",
    "ideas", "help me choose", "help me pick", "which is better", "which one is better",
    "what s good", "your favorite", "your favourite", "the best", "best",
    "recomien*", "recomend*", "sugier*", "sugerencia*", "sugerir", "lo mas vendido",
    "mas vendido*", "de moda", "tendencia*", "ayudame a elegir", "cual es mejor",
    "cual me conviene", "tu favorito", "lo mejor", "el mejor", "la mejor", "ideas de regalo",
    "que me aconsejas", "aconseja*",
    "recomenda*", "sugere", "sugestao", "sugestoes", "indica", "indicacao", "indique",
    "mais vendido*", "em alta", "o que voce recomenda", "me ajuda a escolher", "qual e melhor",
    "qual o melhor", "o melhor", "a melhor", "seu favorito", "ideia de presente",
    "ideias de presente",
    // What to put somewhere: "what should go in it?", "¿qué pongo en el salón?".
    "what should go", "what would go", "what should i put", "what can i put", "que pongo en",
    "que deberia poner", "que puedo poner", "o que colocar", "o que eu coloco", "o que por",
];

/// Comparing products: answered with their cards side by side, not a
/// search for the words "difference" or "between".
#[rustfmt::skip]
pub const COMPARE: &[&str] = &[
    "difference between", "differences between", "what s the difference", "whats the difference",
    "compare", "comparison", "compared to", "versus", "vs",
    "diferencia entre", "diferencias entre", "cual es la diferencia", "que diferencia", "comparar",
    "compara", "comparacion", "comparado con",
    "diferenca entre", "diferencas entre", "qual a diferenca", "qual e a diferenca", "que diferenca",
    "comparado com", "comparacao",
];

/// Asking politely for something, with no verb: "the white one, please".
#[rustfmt::skip]
pub const PLEASE: &[&str] = &["please", "pls", "plz", "por favor", "porfa", "porfavor", "por fa"];

/// Words that open a question about something not yet named: "o que", "a qué hora".
pub const QUESTION_WORDS: &[&str] = &[
    "que", "qual", "quais", "quanto", "quanta", "quantos", "quantas", "quem", "cual", "cuales", "cuanto", "cuanta",
    "cuantos", "cuantas", "quien", "quienes", "donde", "onde", "como", "cuando", "quando",
];

/// Asking for advice on what fits a need: what to wear, what goes with what,
/// what is good for something.
#[rustfmt::skip]
pub const ADVICE: &[&str] = &[
    "should i use", "should i get", "should i buy", "should i wear", "what goes with", "goes with",
    "go with", "goes well", "go well", "look good", "looks good", "would suit", "suits", "good for",
    "best for", "ideal for", "perfect for", "what s a good", "whats a good", "what is a good", "something to wear", "what to wear",
    "what to get", "what to buy",
    "combina*", "queda bien", "quedaria", "bueno para", "buena para", "buen* para", "ideal para",
    "perfect* para", "cual es un buen", "que me pongo", "que uso", "deberia usar", "debo usar", "algo para", "que ponerme",
    "fica bem", "ficaria", "bom pra", "boa pra", "bom para", "boa para", "ideal pra", "perfeit* pra",
    "o que usar", "qual e um bom", "qual e uma boa", "devo usar", "algo pra", "o que vestir",
    // Which one suits the customer, said with a verb of fitting.
    "works under", "works for", "work for", "works best", "would work", "will work for",
    "suitable for", "right for me", "suits me", "would suit me",
    "me conviene", "conviene mas", "me sirve", "sirve mejor", "me va bien", "me iria bien", "adecuado para",
    "adecuada para", "apropiado para", "apropiada para",
    "me serve", "serve melhor", "serve pra mim", "serve para mim", "vai bem", "iria bem", "adequado para",
    "adequada para", "adequado pra", "adequada pra", "apropriado para", "apropriado pra",
    // The same, in the plural or for someone like the customer; what they need.
    "work for me", "right for me", "right for my", "are right for", "is right for", "good if i",
    "for someone with", "for someone who", "what do i need", "what would i need",
    "me sirven", "nos sirve", "me convienen", "me quedan bien", "me quedaria bien", "buenos si",
    "buenas si", "bueno si", "buena si", "para alguien con", "para alguien que", "para quien tiene",
    "que necesito para", "que necesitaria", "que me hace falta",
    "me servem", "ficam bem", "me cai bem", "caem bem", "bom se", "boa se", "bons se", "boas se",
    "pra quem tem", "para quem tem", "pra quem", "para quem", "o que eu preciso", "o que preciso",
    "do que eu preciso", "do que preciso",
];

/// Telling the seller about oneself ("I have dry skin", "tengo un salón
/// pequeño", "se eu gosto de terror"): with a question, a need to advise on.
#[rustfmt::skip]
pub const SITUATION: &[&str] = &[
    "i have", "i ve got", "my skin", "my hair", "my room", "i like", "i love", "i play",
    "tengo", "mi piel", "mi pelo", "mi casa", "me gusta*",
    "tenho", "minha pele", "meu cabelo", "minha casa", "eu gosto", "gosto de",
];

/// Questions about a product: price, stock, details.
#[rustfmt::skip]
pub const QUESTION: &[&str] = &[
    "how much", "price", "prices", "cost", "costs", "in stock", "available", "availability",
    "what sizes", "size", "sizes", "colour", "colours", "color", "colors", "material",
    "made of", "fabric", "does it", "is it", "is this", "is that", "are they", "will it",
    "can it", "battery", "warranty", "guarantee", "dimensions", "how big", "weight", "weigh",
    "compatible", "compatibility", "work with", "works with", "waterproof", "water resistant",
    "details", "tell me more", "more info", "more about", "specs", "specifications",
    "ingredients", "skin type", "how long", "shipping", "delivery", "platform", "what is it",
    "comes with", "come with", "include*", "works on", "run on", "runs on", "made from",
    "cuanto cuesta", "cuanto cuestan", "cuanto vale", "cuanto sale", "cuanto es", "cuanto esta",
    "a cuanto", "cuanto seria", "cuanto me sale", "precio",
    "precios", "cuesta", "cuestan", "hay stock", "disponible", "disponibles", "quedan",
    "que tallas", "talla", "tallas", "colores", "de que esta hecho", "de que material", "tela",
    "bateria", "garantia", "medidas", "tamano", "peso", "compatible con", "funciona con",
    "sirve para", "resistente al agua", "detalles", "mas info", "mas informacion",
    "cuentame mas", "ingredientes", "tipo de piel", "envio", "plataforma", "es de", "mide",
    "miden", "viene con", "viene", "incluye", "funciona en", "corre en",
    "quanto custa", "quanto custam", "quanto e", "quanto sai", "quanto ta", "quanto esta",
    "quanto fica", "quanto seria", "quanto que", "por quanto", "preco", "precos", "valor",
    "custa", "tem em estoque", "estoque", "disponivel", "disponiveis", "tem ainda", "tamanho",
    "tamanhos", "cor", "cores", "feito de", "tecido", "medidas", "compativel", "funciona com",
    "serve para", "a prova d agua", "detalhes", "mais informacoes", "mais info", "me fala mais",
    "ingredientes", "tipo de pele", "frete", "entrega", "quanto tempo", "e de", "mede",
    "medem", "vem com", "inclui", "funciona no", "funciona na", "roda no", "roda em",
];

/// Looking for products ("do you have", "show me", "busco").
#[rustfmt::skip]
pub const BROWSE: &[&str] = &[
    "do you have", "do you sell", "do you carry", "do you stock", "do you guys have", "have you got", "got any", "any",
    // Typed as in a chat: "do u have", "u got".
    "do u have", "do u sell", "do u carry", "do u guys have", "have u got", "u got", "you got", "do ya have", "do yall have",
    "looking for", "look for", "i m looking", "im looking", "show me", "i need", "i want a",
    "i want an", "i want some", "i d like a", "i d like some", "i would like a", "search",
    "find", "what do you have", "what do you sell", "catalog", "catalogue", "products",
    "browse", "options", "what kind of", "what types of", "anything", "something", "shopping for",
    "tienes", "tienen", "tenes", "venden", "vendes", "hay", "busco", "buscando",
    "estoy buscando", "muestrame", "ensename", "necesito", "quiero un", "quiero una",
    "quiero unos", "quiero unas", "quiero ver", "quisiera", "que tienen", "que venden",
    "catalogo", "productos", "opciones", "algo", "algun", "alguna",
    "voces tem", "vcs tem", "voce tem", "vc tem", "tem", "tens", "vendem", "procuro",
    "procurando", "estou procurando", "me mostra", "mostra", "mostrar", "preciso",
    "quero um", "quero uma", "quero uns", "quero umas", "quero ver", "queria", "o que voces tem",
    "produtos", "opcoes", "algum", "alguma", "algo",
];

/// "Yes" to a question the seller asked.
#[rustfmt::skip]
pub const YES: &[&str] = &[
    "yes", "yeah", "yep", "yup", "sure", "ok", "okay", "confirm", "confirmed", "go ahead",
    "do it", "place it", "yes please", "of course", "absolutely", "correct", "sounds good",
    "si", "claro", "dale", "confirmo", "de acuerdo", "adelante", "por supuesto", "vale", "listo",
    "sim", "pode", "pode ser", "isso", "confirmo", "beleza", "com certeza", "manda", "bora",
    "fechado", "claro que sim",
];

/// "No" to a question the seller asked.
#[rustfmt::skip]
pub const NO: &[&str] = &[
    "no", "nope", "not yet", "wait", "cancel", "hold on", "never mind", "nevermind", "not now",
    "todavia no", "aun no", "espera", "cancela", "cancelar", "ahora no", "mejor no",
    "nao", "ainda nao", "espera", "cancela", "agora nao", "melhor nao",
];

/// Pronouns that point at the product being talked about.
#[rustfmt::skip]
pub const FOCUS: &[&str] = &[
    "it", "this", "that", "this one", "that one", "them", "these", "those",
    "lo", "la", "los", "las", "este", "esta", "ese", "esa", "eso", "esto", "estos", "esos",
    "ele", "ela", "eles", "elas", "esse", "essa", "isso", "isto", "esses", "essas", "desse",
    "dessa", "deste", "desta", "disso",
];

/// Words that never say which product: stopwords, fillers, recipients,
/// politeness, in the three languages. What is left of a message after these
/// and the intent phrases are gone is what the customer is looking for.
#[rustfmt::skip]
pub const FILLER: &[&str] = &[
    // English
    "a", "an", "the", "and", "or", "for", "with", "of", "to", "in", "on", "at", "by", "from",
    "my", "me", "i", "im", "i m", "you", "your", "it", "its", "is", "are", "was", "be", "this",
    "that", "these", "those", "some", "any", "something", "anything", "want", "wanna", "need",
    "looking", "look", "search", "find", "show", "see", "buy", "get", "have", "has", "got",
    "like", "would", "could", "can", "please", "pls", "plz", "do", "does", "what", "which",
    "m", "s", "t", "d", "ll", "ve", "re", "one", "ones", "thing", "things", "stuff", "item",
    "items", "product", "products", "new", "nice", "good", "cool", "cute", "pretty", "great",
    "really", "very", "so", "more", "other", "another", "similar", "else", "options", "option",
    "there", "here", "just", "also", "too", "again", "now", "today", "maybe", "perhaps", "kind",
    "type", "sort", "we", "us", "our", "they", "them", "he", "she", "her", "him", "his", "if",
    "how", "about", "all", "every", "much", "many", "lot", "lots", "bit", "little", "thanks",
    "thank", "hi", "hello", "hey", "yes", "ok", "okay", "guys", "am", "any", "got", "sell",
    "wife", "husband", "girlfriend", "boyfriend", "mom", "mum", "mother", "dad", "father",
    "son", "daughter", "friend", "sister", "brother", "partner", "myself", "someone",
    "cheap", "cheaper", "affordable", "expensive", "quality", "best", "better", "nicer",
    "hmm", "hm", "mmm", "umm", "um", "uh", "eh", "ah", "oh", "lol", "haha", "hahaha", "jaja",
    "jajaja", "kkk", "kkkk", "rs", "xd",
    "units", "unit", "pieces", "pairs", "make", "play", "playing", "friends", "kid", "recommended",
    "tell", "between",
    // Spanish
    "el", "la", "los", "las", "lo", "un", "una", "unos", "unas", "de", "del", "al", "y", "e",
    "o", "u", "en", "con", "para", "por", "mi", "mis", "tu", "tus", "su", "sus", "que", "es",
    "este", "esta", "estos", "estas", "ese", "esa", "esos", "esas", "eso", "esto", "quiero",
    "quisiera", "busco", "buscando", "necesito", "tienes", "tiene", "tienen", "tenes", "hay",
    "muestrame", "mostrar", "ver", "comprar", "algo", "algun", "alguno", "alguna", "hola",
    "gracias", "favor", "porfa", "me", "te", "se", "le", "les", "nos", "yo", "usted", "ustedes",
    "cosa", "cosas", "producto", "productos", "nuevo", "nueva", "bonito", "bonita", "lindo",
    "linda", "bueno", "buena", "barato", "barata", "baratos", "baratas", "caro", "cara",
    "mejor", "otro", "otra", "otros", "otras", "mas", "similar", "parecido", "parecida",
    "opciones", "opcion", "muy", "tambien", "solo", "ahora", "hoy", "tipo", "como", "cual",
    "cuales", "estoy", "soy", "sea", "vendes", "venden", "ustedes", "quieren", "gustaria",
    "esposa", "esposo", "marido", "novia", "novio", "mama", "madre", "papa", "padre", "hija",
    "amiga", "amigo", "amigas", "amigos", "hermana", "hermano", "pareja", "calidad", "uno",
    "unito", "unidades", "unidad", "piezas", "hijo", "hijos", "hacer", "jugar", "recomendado",
    "recomendada", "indicado", "indicada", "entre", "dime",
    // Portuguese
    "os", "as", "um", "uma", "uns", "umas", "da", "do", "das", "dos", "na", "no", "nas", "num",
    "numa", "ou", "em", "com", "pra", "pro", "pela", "pelo", "meu", "minha", "meus", "minhas",
    "seu", "sua", "esse", "essa", "esses", "essas", "isso", "isto", "quero", "queria",
    "procuro", "procurando", "preciso", "tem", "tens", "voce", "voces", "vc", "vcs", "mostra",
    "algum", "ola", "oi", "obrigado", "obrigada", "eu", "ele", "ela", "coisa", "coisas",
    "produto", "produtos", "novo", "nova", "bonito", "bonita", "bom", "boa", "mais",
    "outro", "outra", "outros", "outras", "parecido", "parecida", "opcoes", "opcao", "muito",
    "tambem", "so", "agora", "hoje", "qual", "quais", "estou", "sou", "seja", "vendem",
    "gostaria", "namorada", "namorado", "mae", "pai", "filha", "amigo", "amiga", "irma",
    "irmao", "barato", "barata", "baratos", "baratas", "caro", "cara", "melhor", "qualidade",
    "uns", "aqui", "ai", "ja", "tipo", "como", "ter", "ver", "unidade", "unidades", "pecas",
    "pares", "filho", "filhos", "amigos", "amigas", "fazer", "jogar", "indicado", "indicada",
    "recomendado", "recomendada", "desse", "dessa", "deste", "desta", "disso",
];

/// Currency words around a price ("50 dollars", "R$ 50", "US$50").
#[rustfmt::skip]
pub const CURRENCY: &[&str] = &[
    "usd", "us", "dollar", "dollars", "bucks", "dolar", "dolares", "r", "reais", "real",
    "pesos", "peso", "eur", "euro", "euros",
];

/// Words before an upper price bound.
#[rustfmt::skip]
pub const PRICE_MAX: &[&str] = &[
    "under", "below", "less than", "cheaper than", "up to", "max", "maximum", "at most",
    "no more than", "within", "budget of", "budget is", "budget", "not more than",
    "menos de", "por menos de", "hasta", "maximo", "no mas de", "debajo de", "mas barato que",
    "presupuesto de", "presupuesto",
    "ate", "abaixo de", "no maximo", "por ate", "mais barato que", "orcamento de", "orcamento",
];

/// Words before a lower price bound.
#[rustfmt::skip]
pub const PRICE_MIN: &[&str] = &[
    "over", "above", "more than", "at least", "minimum", "mas de", "desde", "minimo",
    "mais de", "acima de", "a partir de", "pelo menos",
];

/// Words before a size, which the search leaves out (sizes are answered from
/// a product's details, not searched for).
#[rustfmt::skip]
pub const SIZE_WORDS: &[&str] =
    &["size", "sizes", "talla", "tallas", "talle", "tamano", "tamanos", "tamanho", "tamanhos", "numero", "number", "shade", "tono", "tom"];

/// Ordinal words, by position from 1; `0` means "the last one".
#[rustfmt::skip]
pub const ORDINALS: &[(&str, u32)] = &[
    ("first", 1), ("1st", 1), ("second", 2), ("2nd", 2), ("third", 3), ("3rd", 3),
    ("fourth", 4), ("4th", 4), ("fifth", 5), ("5th", 5), ("last", 0),
    ("primero", 1), ("primera", 1), ("primer", 1), ("segundo", 2), ("segunda", 2),
    ("tercero", 3), ("tercera", 3), ("tercer", 3), ("quinto", 5), ("quinta", 5),
    ("ultimo", 0), ("ultima", 0),
    ("primeiro", 1), ("primeira", 1), ("terceiro", 3), ("terceira", 3), ("ultimo", 0),
];

/// Ordinals that are also everyday nouns ("cuarto" is a bedroom, "quarto"
/// too): read as positions only when nothing else in the message could be
/// a product.
#[rustfmt::skip]
pub const AMBIGUOUS_ORDINALS: &[(&str, u32)] = &[("cuarto", 4), ("cuarta", 4), ("quarto", 4), ("quarta", 4)];

/// Words before a position: "number 2", "option 3", "#2".
#[rustfmt::skip]
pub const POSITION_WORDS: &[&str] = &["number", "no", "option", "item", "opcion", "numero", "opcao", "n", "nº", "n°"];

/// Product aspects customers ask about, and the catalog attribute keys that
/// answer them.
#[rustfmt::skip]
pub const ASPECTS: &[(&[&str], &[&str])] = &[
    (&["size", "sizes", "what sizes", "talla", "tallas", "tamanho", "tamanhos", "fit", "horma"], &["sizes", "size", "case_size", "fit"]),
    (&["colour", "colours", "color", "colors", "colores", "cor", "cores"], &["color"]),
    (&["material", "made of", "made from", "fabric", "tela", "tecido", "de que esta hecho", "feito de", "de que material", "es de", "e de"], &["material"]),
    (&["dimensions", "how big", "medidas", "measure*", "mide", "miden", "mede", "medem", "tamano", "length", "largo"], &["dimensions", "length", "inseam"]),
    (&["battery", "bateria", "battery life", "how long does the battery"], &["battery_life", "battery"]),
    (&["warranty", "guarantee", "garantia"], &["warranty"]),
    (&["compatible", "compatibility", "work with", "works with", "works on", "run on", "runs on", "compatible con", "funciona con", "funciona en", "corre en", "funciona com", "funciona no", "funciona na", "roda no", "roda em", "compativel", "platform", "plataforma"], &["compatibility", "platform"]),
    (&["weight", "weigh", "peso", "pesa", "heavy"], &["weight"]),
    (&["waterproof", "water resistant", "resistente al agua", "a prova d agua"], &["water_resistance"]),
    (&["connect*", "bluetooth", "wifi", "conectividad", "conexao"], &["connectivity"]),
    (&["screen", "display", "pantalla", "tela"], &["display"]),
    (&["storage", "memory", "ram", "almacenamiento", "memoria", "armazenamento"], &["storage", "ram"]),
    (&["camera", "camara", "camera"], &["camera"]),
    (&["players", "multiplayer", "jugadores", "jogadores"], &["players"]),
    (&["age", "edad", "idade", "rating"], &["age_rating"]),
    (&["ingredients", "ingredientes", "what s in", "whats in", "what is in", "que lleva", "o que leva", "skin type", "tipo de piel", "tipo de pele", "hair type"], &["ingredients", "skin_type", "hair_type"]),
    (&["care", "wash", "lavar", "cuidado", "cuidados"], &["care"]),
    (&["comes with", "come with", "include*", "viene con", "incluye", "vem com", "inclui", "in the box"], &["connectivity", "ports", "compatibility", "platform", "material"]),
    (&["shipping", "delivery", "envio", "entrega", "frete", "deliver"], &["delivery"]),
    (&["volume", "ml", "how much product", "capacity", "capacidad", "capacidade"], &["volume", "capacity"]),
];

/// Price questions.
#[rustfmt::skip]
pub const PRICE_QUESTION: &[&str] = &[
    "how much", "price", "prices", "cost", "costs", "cuanto cuesta", "cuanto cuestan",
    "cuanto vale", "cuanto sale", "cuanto es", "cuanto esta", "a cuanto", "cuanto seria",
    "cuanto me sale", "precio", "precios", "cuesta", "cuestan",
    "quanto custa", "quanto custam", "quanto e", "quanto sai", "quanto ta", "quanto esta",
    "quanto fica", "quanto seria", "quanto que", "por quanto", "preco", "precos", "valor", "custa",
];

/// Stock questions.
#[rustfmt::skip]
pub const STOCK_QUESTION: &[&str] = &[
    "in stock", "available", "availability", "left", "hay stock", "disponible", "disponibles",
    "quedan", "stock", "tem em estoque", "estoque", "disponivel", "disponiveis", "tem ainda",
];

/// A symptom told as a plain description of the product or of what it did
/// to the customer, with no word for a fault: a reaction of the skin, a
/// sound or a picture gone bad, a product that moves or smells wrong.
#[rustfmt::skip]
pub const SYMPTOM: &[&str] = &[
    "itch", "itches", "itching", "made me itch", "bumps", "pimples", "zits", "redness", "swollen",
    "swelling", "stinging", "stings", "burning sensation", "muffled", "distorted", "distortion",
    "crackl*", "buzzing", "static noise", "blurry", "grainy", "flicker*", "laggy", "lags",
    "dead pixel*", "pixelated", "rattl*", "squeak*", "wobbl*", "creak*", "weird noise",
    "strange noise", "makes a noise", "stinks", "smells bad", "smells awful", "smells weird",
    "smells like chemicals", "smells like plastic", "smells burnt", "sticky", "peels off",
    "pills after", "pilling", "pilled", "blister*", "robotic", "gets stuck", "get stuck",
    "keeps sticking", "too loud", "so loud", "super loud", "very loud", "really loud", "noisy",
    "on its own", "by itself", "loses connection", "loses the connection", "drops connection",
    "lost connection", "loses signal", "won t burn", "won t close", "won t open", "won t stay",
    "won t load", "won t pair", "won t work", "won t fit", "doesn t close", "doesn t fit",
    "doesn t stay", "doesn t pair", "doesn t load", "doesn t open", "doesn t light",
    "doesn t burn", "doesn t stick", "doesn t charge", "doesn t recognize", "doesn t detect",
    "came in pieces", "arrived in pieces", "in pieces", "smashed", "shattered", "drifts", "drifting",
    "restarts", "reboots", "turns itself off", "turns off by itself", "sheds everywhere", "jammed",
    "coming undone", "came undone", "grinding", "sinking",
    "stick drift", "sizes smaller", "size smaller", "after one wash", "after the first wash",
    "only got one", "only received", "only one arrived", "only one came", "one was missing",
    "picor", "pica mucho", "me pica", "comezon", "granos", "granitos", "espinillas", "hinchad*",
    "enrojecid*", "escozor", "me arde", "distorsion*", "zumbido", "chasquid*", "borros*",
    "parpadea*", "entrecortad*", "se escucha mal", "se escuchan mal", "se oye mal", "se oyen mal",
    "se ve mal", "hace ruido", "hacen ruido", "con ruido", "mucho ruido", "un ruido raro",
    "ruido raro", "cojea", "se tambalea", "tambalea", "cruje", "rechina", "chirria", "pata floja",
    "huele mal", "huele raro", "huele a quemado", "huele a plastico", "apesta", "pegajos*",
    "ampolla*", "robotic*", "robotizad*", "se queda pegad*", "se quedan pegad*", "hace bolitas",
    "salieron bolitas", "rechinan", "muy ruidos*", "demasiado ruidos*", "por si solo", "por si sola",
    "pierde la conexion", "pierde conexion", "pierde la senal", "se desconecta", "no cierra",
    "no abre", "no enciende", "no suena", "no se escucha", "no se oye", "no se ve", "no reconoce",
    "no detecta", "no lee", "no sostiene", "no pega", "no se queda", "en pedazos", "hecho pedazos",
    "se reinicia", "se resetea", "sueltan pelusa", "suelta pelusa", "suelta pelo",
    "hechas pedazos", "hechos pedazos", "destrozad*", "hecho trizas", "se va hacia un lado",
    "se va sola", "se va solo", "tiene drift", "talla menos", "tallas menos", "despues de lavar*",
    "tras lavar*", "llego solo", "llegaron solo", "solo llego", "solo llegaron", "falta una",
    "falta un", "falta uno", "falto", "faltaba", "faltan piezas",
    "coca muito", "me coca", "espinhas", "bolinhas", "vermelhidao", "inchad*", "ardencia",
    "chiado", "chiando", "abafad*", "distorcid*", "embacad*", "piscando", "falhando",
    "com ruido", "faz barulho", "fazendo barulho", "barulho estranho", "som ruim", "imagem ruim",
    "bamba", "bambo*", "rangendo", "range muito", "range toda", "range quando", "cheira mal",
    "cheiro ruim", "cheiro estranho", "bolhas nos pes", "fez bolha*", "robotica", "robotizad*",
    "fica pres*", "ficou pres*", "barulhent*", "sozinho", "sozinha", "perde a conexao",
    "perde conexao", "perde o sinal", "cai a conexao", "nao fecha", "nao abre", "nao acende",
    "nao reconhece", "nao detecta", "nao le", "nao sai som", "nao gruda", "nao fixa",
    "em pedacos", "despedacad*", "estilhacad*", "puxando pro lado", "puxa pro lado",
    "reinicia sozinh*", "reiniciando", "solta fiapo", "soltando fiapo", "soltando pelo", "afundando",
    "emperrad*", "descosturando",
    "puxa para o lado", "tamanho menor", "tamanhos menor", "depois de lavar", "depois da primeira lavagem",
    "chegou so", "veio so", "so chegou", "so veio", "chegaram so", "falta um", "falta uma", "faltou",
    "faltando", "parou de sair", "nao sai",
    "cheira a queimado", "cheira a plastico", "fedendo", "fede", "grudent*",
    // Shoes or clothes that hurt.
    "pinch*", "squeez*", "digs into", "dig into", "rubs my", "rubbing my", "hurt my", "hurts my",
    "hurting my", "cut into my", "cuts into my",
    "me aprieta*", "aprietan mucho", "aprieta mucho", "me lastima*", "me hace dano", "me hacen dano",
    "me roza*", "me rozan", "me sacan ampollas",
    "me aperta*", "apertando", "machuca*", "esta me machucando", "me da bolha", "me dao bolha",
    // A part or a piece that did not come.
    "came without", "arrived without", "showed up without", "was missing the", "no cable in",
    "llego sin", "vino sin", "llegaron sin", "vinieron sin", "venia sin",
    "chegou sem", "veio sem", "chegaram sem", "vieram sem",
    // Fibres or fluff all over, a seam that gave, make-up that runs.
    "sheds fluff", "sheds fibres", "sheds fibers", "sheds lint", "sheds hair", "sheds all over",
    "shedding all over", "shedding everywhere", "is shedding", "smudges all over", "runs down my",
    "suelta fibras", "sueltan fibras", "suelta pelit*", "sueltan pelit*", "suelta hilos", "suelta pelusa*",
    "se me corre", "se me corrio",
    "solta fibras", "soltam fibras", "solta fiapos", "soltam fiapo*", "solta pelos", "solta pelinhos",
    "escorre", "escorreu", "borrou tudo",
];

/// What holds a garment or a bag together: with [`GAVE_WAY`] soon after, a
/// fault ("the seam on the left leg split", "a costura da calça abriu").
#[rustfmt::skip]
pub const SEAMS: &[&str] = &[
    "seam", "seams", "stitching", "zipper", "zip", "hem", "costura", "costuras", "cremallera",
    "dobladillo", "ziper", "barra",
];

/// A seam or a zip that gave: after a [`SEAMS`] word, a fault.
#[rustfmt::skip]
pub const GAVE_WAY: &[&str] = &[
    "split", "opened", "came open", "ripped", "burst", "gave way", "came undone", "broke",
    "se abrio", "abrio", "se solto", "se rompio", "se deshizo", "revento",
    "abriu", "se abriu", "soltou", "estourou", "arrebentou", "rompeu", "desfez", "desmanchou",
];

/// Verbs of showing or recording before [`BLACKED_OUT`]: a screen or a
/// camera that shows nothing ("graba todo en negro", "the screen goes black").
#[rustfmt::skip]
pub const SHOWS: &[&str] = &[
    "shows", "showed", "records", "recorded", "displays", "goes", "went", "stays", "turns",
    // Not "sale", "salen", "sai": "también sale en negro" offers a colour.
    "graba", "grabo", "se ve", "se queda", "se quedo", "queda", "muestra", "se pone",
    "grava", "gravou", "fica", "ficou", "mostra", "aparece", "aparecem", "screen",
];

/// What a screen shows when it shows nothing.
#[rustfmt::skip]
pub const BLACKED_OUT: &[&str] = &["black", "blank", "negro", "negra", "preto", "preta", "en blanco", "em branco"];

/// Verbs of a change of colour ("turned my ears green", "me dejó la piel
/// amarilla", "ficou verde"): with a [`COLOURS`] word after, a fault.
#[rustfmt::skip]
pub const TURNED: &[&str] = &[
    "turned", "stained", "se puso", "se pusieron", "se volvio", "me dejo",
    "me pinto", "mancho", "ficou", "ficaram", "deixou", "manchou",
];

/// Colours a product should not turn, or turn the customer.
#[rustfmt::skip]
pub const COLOURS: &[&str] = &[
    "green", "black", "yellow", "orange", "grey", "gray", "blue", "purple", "brown", "red",
    "verde", "verdes", "negro", "negra", "negros", "negras", "amarill*", "naranja", "gris", "azul",
    "morad*", "marron", "rojo", "roja", "preto", "preta", "amarel*", "laranja", "cinza", "roxo",
    "roxa", "marrom", "vermelho", "vermelha", "escuro", "escura", "oscuro", "oscura",
];

/// A part or a finish that came wrong ("a hole", "una mancha", "um risco"):
/// after a verb of arriving or having, a fault ([`crate::brain`]).
#[rustfmt::skip]
pub const FLAW: &[&str] = &[
    "hole", "holes", "stain", "stains", "scratch", "scratches", "dent", "dents", "crack", "cracks",
    "tear", "snag", "loose thread", "loose threads", "chip", "bubble", "bubbles", "rip", "rips",
    "line across", "lines across", "dead spot", "dead pixel",
    "agujero*", "hoyo*", "mancha", "manchas", "rayon*", "raya", "rayas", "abolladura*", "grieta*",
    "rotura*", "hilo suelto", "hilos sueltos", "golpe", "golpes", "pata floja", "descosido",
    "una linea", "unas lineas", "una raya",
    "furo", "furos", "buraco*", "mancha", "manchas", "risco", "riscos", "arranhao", "arranhoes",
    "amassad*", "rachadura*", "trinca*", "fio solto", "fios soltos", "defeito", "rasgo", "rasgos",
    "uma linha", "umas linhas", "uma listra",
];

/// Verbs of arriving or having before a [`FLAW`]: "came with", "llegó con",
/// "tem um".
#[rustfmt::skip]
pub const ARRIVED_WITH: &[&str] = &[
    "came with", "arrived with", "got here with", "showed up with", "has a", "has an", "has got a",
    "have a", "have an", "has", "have", "there s a", "there is a", "there are", "ended up with",
    "now has",
    "llego con", "vino con", "vinieron con", "llegaron con", "tiene un", "tiene una", "tienen un",
    "hay un", "hay una", "trae un", "trae una", "tiene", "tienen", "quedo con", "se quedo con",
    "chegou com", "veio com", "vieram com", "chegaram com", "tem um", "tem uma", "tem uns", "tem umas",
    "tem", "ficou com", "ficaram com",
    "ta com um",
    "ta com uma", "esta com um", "esta com uma", "tem varios", "tem varias",
];

/// A product that wears out too soon ("doesn't hold a charge", "no dura",
/// "não segura a bateria"): said, not asked, a fault.
#[rustfmt::skip]
pub const WEARS_OUT: &[&str] = &[
    "doesn t hold", "does not hold", "won t hold", "can t hold", "barely holds", "barely lasts",
    "doesn t last", "does not last", "won t last", "didn t last", "drains fast", "drains quickly",
    "dies after", "dies within",
    "no aguanta", "no dura", "no duro", "no mantiene", "apenas dura", "casi no dura",
    "se descarga rapido", "se descarga muy", "se gasta rapido", "no sostiene",
    "nao segura", "nao aguenta", "nao dura", "nao durou", "mal dura", "descarrega rapido",
    "descarrega muito", "acaba rapido", "nao mantem",
];

/// What an order is told to be ("processing", "en tránsito", "aguardando
/// envio"): with a word for the order or for what it says, an order status.
#[rustfmt::skip]
pub const ORDER_STATE: &[&str] = &[
    "processing", "pending", "preparing", "in transit", "on hold", "awaiting shipment",
    "awaiting dispatch", "out for delivery", "label created", "stuck", "delivered", "on its way",
    "en preparacion", "preparando", "pendiente", "en transito", "procesando", "en proceso",
    "en espera", "detenido", "atascado", "entregado", "entregada", "en reparto",
    "em separacao", "em preparacao", "em processamento", "processando", "pendente", "em transito",
    "aguardando envio", "aguardando despacho", "saiu para entrega", "parado", "parada", "entregue",
    "postado",
    // A status that does not move.
    "doesn t change", "hasn t changed", "hasn t moved", "hasn t updated", "not updating", "never changes",
    "no cambia", "no se actualiza", "no avanza", "no se mueve", "sigue igual",
    "nao muda", "nao atualiza", "nao avanca", "nao sai do lugar", "continua igual",
];

/// What names an order, or what it is said to show, beside an [`ORDER_STATE`].
#[rustfmt::skip]
pub const ORDER_TOLD: &[&str] = &[
    "order", "orders", "tracking", "package", "parcel", "shipment", "purchase", "says", "shows",
    "status",
    "pedido", "pedidos", "compra", "paquete", "envio", "seguimiento", "rastreo", "dice",
    "aparece", "figura", "estado",
    "encomenda", "rastreio", "pacote", "diz", "mostra", "consta", "status", "situacao",
];

/// Purposes said in English with "to" ("something comfy to travel in",
/// "a bag to carry my laptop"): with more words after, a need.
#[rustfmt::skip]
pub const PURPOSE_VERBS: &[&str] = &[
    "wear", "travel", "sleep", "work", "play", "read", "carry", "keep", "cook", "study", "relax",
    "use", "go", "run", "hike", "watch", "stream", "record", "edit", "cover", "hide", "protect",
    "stay", "feel", "look", "unwind", "lounge", "commute", "train", "host", "decorate", "brighten",
    "calm", "soothe", "treat", "fix", "help", "curl", "snuggle", "cuddle", "rest", "nap", "chill",
];

/// English comparatives of what customers weigh products by ("softer",
/// "comfier", "quieter"). A list, not the "-er" ending: a cover, a charger,
/// a speaker and a cleanser end like a comparative and are products.
#[rustfmt::skip]
pub const COMPARATIVES: &[&str] = &[
    "softer", "harder", "firmer", "warmer", "cooler", "colder", "hotter", "lighter", "heavier",
    "cheaper", "pricier", "bigger", "smaller", "larger", "longer", "shorter", "taller", "wider",
    "narrower", "thicker", "thinner", "deeper", "higher", "lower", "stronger", "weaker", "tougher",
    "sturdier", "quieter", "louder", "faster", "slower", "quicker", "brighter", "darker", "dimmer",
    "comfier", "cosier", "cozier", "easier", "simpler", "gentler", "milder", "richer", "smoother",
    "sharper", "clearer", "crisper", "fresher", "drier", "safer", "newer", "older", "nicer",
    "prettier", "cuter", "fancier", "calmer", "stretchier", "roomier", "sleeker", "slimmer",
    "tighter", "looser", "glossier", "shinier", "creamier", "healthier", "bolder", "fluffier",
    "plusher", "bouncier", "grippier", "punchier", "sweeter", "greener",
];

/// Conditions of the skin, hair or body that customers shop to treat
/// ("damaged hair", "piel con espinillas", "pés rachados"): with a part of
/// the body and a request, a need, not a fault ([`crate::brain`]).
#[rustfmt::skip]
pub const CONDITIONS: &[&str] = &[
    "damaged", "dry", "cracked", "chapped", "brittle", "frizzy", "frizz", "oily", "greasy", "pimples",
    "acne", "spots", "blemishes", "breakouts", "redness", "red", "itchy", "irritated", "blisters",
    "sore", "dandruff", "flaky", "dull", "wrinkles", "puffy", "bad",
    "danado", "danada", "danados", "danadas", "maltratad*", "quebradiz*", "resec*", "agrietad*",
    "espinillas", "granitos", "granos", "manchas", "rojeces", "irritad*", "caspa", "arrugas", "ojeras",
    "graso", "grasa", "ampollas",
    "danificad*", "ressecad*", "rachad*", "quebradic*", "espinhas", "cravos", "vermelhidao",
    "rugas", "olheiras", "oleos*", "bolhas", "dor",
];

/// Parts of the body a [`CONDITIONS`] word is said of.
#[rustfmt::skip]
pub const BODY: &[&str] = &[
    "hair", "skin", "lips", "feet", "heels", "hands", "nails", "scalp", "face", "back", "neck",
    "lashes", "chin", "forehead", "cheeks", "nose",
    "cabello", "pelo", "piel", "labios", "pies", "talones", "manos", "unas", "cuero cabelludo", "cara",
    "espalda", "cuello", "pestanas", "barbilla", "frente", "mejillas", "nariz",
    "cabelo", "pele", "pes", "calcanhares", "maos", "unhas", "couro cabeludo", "rosto", "costas",
    "pescoco", "cilios", "queixo", "testa", "bochechas", "nariz",
];

/// A product blamed for what happened ("made", "gave me", "since I started
/// the retinol", "me dejó", "deixou"): then a condition is a complaint.
#[rustfmt::skip]
pub const CAUSES: &[&str] = &[
    "made", "makes", "gave", "gives", "left", "caused", "causes", "since i started", "since using",
    "after using", "ever since", "arrived", "came", "received", "got it",
    "me dejo", "me deja", "me dio", "me causo", "me provoco", "desde que", "despues de usar", "llego",
    "vino", "recibi",
    "deixou", "deixa", "me deu", "causou", "provocou", "depois de usar", "depois que", "chegou", "veio",
    "recebi",
];

/// Asking what would help ("is there a cleanser that helps", "o que posso
/// usar"): a request for products, with a condition.
#[rustfmt::skip]
pub const HELPS: &[&str] = &[
    "help", "helps", "would help", "is there", "what can i use", "what can i put", "what do i use",
    "ayude", "ayuda", "ayudan", "hay algo", "que puedo usar", "que puedo ponerme", "que uso", "que me pongo",
    "ajude", "ajuda", "ajudam", "tem algo", "o que posso usar", "o que posso passar", "o que eu uso",
    "o que uso",
];

/// "what would", "what should": asking what would do, before a verb that
/// would otherwise change the cart ("what would make it cosier?").
#[rustfmt::skip]
pub const WHAT_WOULD: &[&str] = &[
    "what would", "what should", "what could", "what can", "que podria", "que deberia", "que pondrias",
    "que pondria", "o que poderia", "o que deveria", "o que faria", "o que eu poderia",
];

/// Verbs of choosing what to buy, give, wear or take, after a question
/// word: advice asked for ([`crate::brain`]).
#[rustfmt::skip]
pub const CHOOSE: &[&str] = &[
    "buy", "gift", "give", "wear", "pack", "bring", "take", "enjoy", "choose", "pick",
    "compro", "comprar", "compraria", "regalo", "regalar", "llevo", "llevar", "me llevo", "uso", "usar",
    "me pongo", "ponerme", "pondrias", "pondria", "elijo", "elegir", "escojo", "escoger", "le doy",
    "levo", "levar", "dou", "dar", "presenteio", "presentear", "visto", "vestir", "escolho", "escolher",
    "pego", "pegar",
];

/// Asking when: with the customer's own and a verb of arriving
/// ([`ARRIVES`]), an order asked after.
#[rustfmt::skip]
pub const WHEN: &[&str] = &[
    "when", "what day", "how long until", "how long till", "how long before", "how much longer",
    "cuando", "que dia", "para cuando", "cuanto falta", "cuanto tarda*",
    "quando", "que dia", "quanto tempo falta", "quanto falta", "pra quando", "para quando",
];

/// Verbs of a delivery arriving.
#[rustfmt::skip]
pub const ARRIVES: &[&str] = &[
    "delivered", "deliver", "arrive", "arrives", "arriving", "get here", "gets here", "show up",
    "shows up", "reach me", "come", "coming",
    "entregar", "entregado", "entregada", "entregan", "entregaran", "llega", "llegan", "llegar",
    "llegara", "llegaran", "recibo", "recibir", "mandan", "envian",
    "entregue", "entregam", "chega", "chegam", "chegar", "chegara", "recebo", "receber", "mandam",
    "enviam", "llegue", "lleguen", "chegue", "cheguem", "entrega", "delivery",
];

/// What is sent to the customer, said with "me" ("¿cuándo me llega?",
/// "quando me entregam?"): the customer's own order, as "my" says.
#[rustfmt::skip]
pub const TO_ME: &[&str] = &[
    "me llega*", "me llegue*", "me entreg*", "me mand*", "me envi*", "me chega*", "me cheg*",
    "get mine", "receive mine", "get it", "receive it",
];

/// A fault the product should not have, after a relative: with a request,
/// what the customer looks for ("a monitor that doesn't flicker").
#[rustfmt::skip]
pub const WITHOUT_FAULT: &[&str] = &[
    "that doesn t", "that don t", "that won t", "that does not", "that will not", "that never",
    "which doesn t", "which won t", "that wouldn t", "that isn t", "that aren t",
    "que no", "que nunca", "sin que", "que nao", "sem que",
];
