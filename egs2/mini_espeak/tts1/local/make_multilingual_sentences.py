#!/usr/bin/env python3
"""Write local/sentences_{en,es,de,fr}.txt: the texts of the embedded espeak corpus.

All sentences are written for this project: a set of hand-written sentences per language
plus sentences composed from hand-written phrase lists (subject, verb, object, place or
time), sampled with a fixed seed so the files are reproducible. The committed files are
what local/data.sh reads; this script documents how they were made.
"""

import random
from pathlib import Path

HERE = Path(__file__).resolve().parent

HAND = {
    "en": """
Could you close the window before you leave?
The train to the coast leaves in ten minutes.
She laughed when the kitten chased its own tail.
Please bring a warm coat, the evening will be cold.
We planted tomatoes and beans behind the house.
Nobody knew why the lights went out at midnight.
How many apples are left in the basket?
The museum opens late on Thursday evenings.
He whistled a cheerful tune while he cooked dinner.
Rain is expected across the northern hills tomorrow.
I forgot my keys again, can you let me in?
The children built a tall tower out of paper cups.
Is this the road that leads to the old lighthouse?
A thick fog covered the harbor all morning.
They painted the fence bright yellow last summer.
Turn left at the bakery and walk past the school.
What a beautiful view from the top of the hill!
My grandfather tells the same joke every winter.
The library keeps quiet rooms for reading and study.
Hold the ladder steady while I change the bulb.
Fresh bread smells wonderful early in the morning.
Which of these paths will take us to the lake?
The little boat drifted slowly toward the island.
She wrote a long letter to her friend abroad.
Thunder rolled over the valley just before noon.
Do not forget to water the plants on Friday.
The orchestra played until the candles burned down.
Our team finally won the match after a long season.
Why does the cat always sleep on my chair?
Snow fell quietly over the sleeping village.
He measured the table twice before cutting the wood.
The soup needs a little more salt and pepper.
Where did you put the map of the mountains?
Bright stars filled the sky above the desert camp.
The baker wakes up long before the sun rises.
""",
    "es": """
¿Puedes cerrar la ventana antes de salir?
El tren hacia la costa sale en diez minutos.
Ella se rió cuando el gatito persiguió su propia cola.
Trae un abrigo, porque la noche será fría.
Plantamos tomates y judías detrás de la casa.
Nadie supo por qué se apagaron las luces a medianoche.
¿Cuántas manzanas quedan en la cesta?
El museo abre tarde los jueves por la noche.
Silbaba una canción alegre mientras preparaba la cena.
Mañana se espera lluvia en las colinas del norte.
Olvidé otra vez las llaves, ¿me abres la puerta?
Los niños construyeron una torre alta con vasos de papel.
¿Es este el camino que lleva al viejo faro?
Una niebla espesa cubrió el puerto toda la mañana.
Pintaron la valla de amarillo el verano pasado.
Gira a la izquierda en la panadería y pasa la escuela.
¡Qué vista tan bonita desde lo alto de la colina!
Mi abuelo cuenta el mismo chiste cada invierno.
La biblioteca tiene salas tranquilas para leer.
Sujeta la escalera mientras cambio la bombilla.
El pan recién hecho huele de maravilla por la mañana.
¿Cuál de estos senderos nos lleva al lago?
La pequeña barca se acercó despacio a la isla.
Escribió una carta larga a su amiga en el extranjero.
Un trueno sonó sobre el valle justo antes del mediodía.
No olvides regar las plantas el viernes.
La orquesta tocó hasta que se apagaron las velas.
Nuestro equipo ganó por fin después de una larga temporada.
¿Por qué el gato siempre duerme en mi silla?
La nieve caía en silencio sobre el pueblo dormido.
Midió la mesa dos veces antes de cortar la madera.
A la sopa le falta un poco de sal y pimienta.
¿Dónde pusiste el mapa de las montañas?
Las estrellas llenaban el cielo sobre el campamento.
El panadero se levanta mucho antes del amanecer.
""",
    "de": """
Kannst du bitte das Fenster schließen, bevor du gehst?
Der Zug an die Küste fährt in zehn Minuten ab.
Sie lachte, als das Kätzchen seinen eigenen Schwanz jagte.
Nimm eine warme Jacke mit, der Abend wird kalt.
Wir haben Tomaten und Bohnen hinter dem Haus gepflanzt.
Niemand wusste, warum um Mitternacht das Licht ausging.
Wie viele Äpfel sind noch im Korb?
Das Museum hat donnerstags bis spät abends geöffnet.
Er pfiff ein fröhliches Lied, während er kochte.
Morgen wird Regen über den nördlichen Hügeln erwartet.
Ich habe schon wieder meine Schlüssel vergessen.
Die Kinder bauten einen hohen Turm aus Papierbechern.
Ist das der Weg zum alten Leuchtturm?
Dichter Nebel lag den ganzen Morgen über dem Hafen.
Letzten Sommer haben sie den Zaun gelb gestrichen.
Bieg an der Bäckerei links ab und geh an der Schule vorbei.
Was für eine schöne Aussicht vom Gipfel des Hügels!
Mein Großvater erzählt jeden Winter denselben Witz.
Die Bibliothek hat ruhige Räume zum Lesen.
Halt die Leiter fest, während ich die Glühbirne wechsle.
Frisches Brot duftet am frühen Morgen wunderbar.
Welcher dieser Wege führt uns zum See?
Das kleine Boot trieb langsam auf die Insel zu.
Sie schrieb einen langen Brief an ihre Freundin im Ausland.
Kurz vor Mittag rollte Donner über das Tal.
Vergiss nicht, am Freitag die Pflanzen zu gießen.
Das Orchester spielte, bis die Kerzen heruntergebrannt waren.
Unsere Mannschaft hat nach langer Saison endlich gewonnen.
Warum schläft die Katze immer auf meinem Stuhl?
Leise fiel Schnee auf das schlafende Dorf.
Er maß den Tisch zweimal, bevor er das Holz sägte.
Die Suppe braucht noch etwas Salz und Pfeffer.
Wo hast du die Karte der Berge hingelegt?
Helle Sterne füllten den Himmel über dem Lager.
Der Bäcker steht lange vor Sonnenaufgang auf.
""",
    "fr": """
Peux-tu fermer la fenêtre avant de partir ?
Le train pour la côte part dans dix minutes.
Elle a ri quand le chaton a poursuivi sa propre queue.
Prends un manteau chaud, la soirée sera froide.
Nous avons planté des tomates et des haricots derrière la maison.
Personne ne savait pourquoi la lumière s'est éteinte à minuit.
Combien de pommes reste-t-il dans le panier ?
Le musée ferme tard le jeudi soir.
Il sifflait un air joyeux en préparant le dîner.
On attend de la pluie sur les collines du nord demain.
J'ai encore oublié mes clés, tu peux m'ouvrir ?
Les enfants ont construit une haute tour avec des gobelets.
Est-ce bien la route qui mène au vieux phare ?
Un brouillard épais a couvert le port toute la matinée.
Ils ont peint la clôture en jaune l'été dernier.
Tourne à gauche après la boulangerie et passe devant l'école.
Quelle belle vue depuis le sommet de la colline !
Mon grand-père raconte la même blague chaque hiver.
La bibliothèque a des salles calmes pour lire.
Tiens bien l'échelle pendant que je change l'ampoule.
Le pain frais sent merveilleusement bon le matin.
Lequel de ces sentiers nous mène au lac ?
La petite barque a dérivé lentement vers l'île.
Elle a écrit une longue lettre à son amie à l'étranger.
Le tonnerre a grondé sur la vallée juste avant midi.
N'oublie pas d'arroser les plantes vendredi.
L'orchestre a joué jusqu'à ce que les bougies s'éteignent.
Notre équipe a enfin gagné après une longue saison.
Pourquoi le chat dort-il toujours sur ma chaise ?
La neige tombait doucement sur le village endormi.
Il a mesuré la table deux fois avant de couper le bois.
La soupe manque un peu de sel et de poivre.
Où as-tu mis la carte des montagnes ?
Des étoiles brillantes remplissaient le ciel au-dessus du camp.
Le boulanger se lève bien avant le soleil.
""",
}

PARTS = {
    "en": (
        ["The old farmer", "My sister", "A small dog", "The teacher", "Our neighbor",
         "The young pilot", "His uncle", "A tired student", "The captain", "Her cousin",
         "The quiet painter", "A friendly nurse"],
        ["found", "painted", "carried", "sold", "cleaned", "opened", "repaired", "hid",
         "bought", "lost", "borrowed", "wrapped"],
        ["a green umbrella", "the broken clock", "three wooden boxes", "an empty bottle",
         "the heavy suitcase", "an old bicycle", "a basket of pears", "the silver key",
         "a wool blanket", "the blue notebook", "a pair of boots", "the kitchen chair"],
        ["near the river", "before breakfast", "in the garden", "after the storm",
         "at the market", "on Sunday morning", "behind the station", "during the holidays",
         "under the bridge", "late at night", "in the attic", "beside the old church"],
        "{s} {v} {o} {p}.",
    ),
    "es": (
        ["El viejo granjero", "Mi hermana", "Un perro pequeño", "La maestra",
         "Nuestro vecino", "El joven piloto", "Su tío", "Una estudiante cansada",
         "El capitán", "Mi prima", "El pintor callado", "Una enfermera amable"],
        ["encontró", "pintó", "llevó", "vendió", "limpió", "abrió", "arregló", "escondió",
         "compró", "perdió", "pidió prestado", "envolvió"],
        ["un paraguas verde", "el reloj roto", "tres cajas de madera", "una botella vacía",
         "la maleta pesada", "una bicicleta vieja", "una cesta de peras", "la llave de plata",
         "una manta de lana", "el cuaderno azul", "unas botas nuevas", "la silla de la cocina"],
        ["cerca del río", "antes del desayuno", "en el jardín", "después de la tormenta",
         "en el mercado", "el domingo por la mañana", "detrás de la estación",
         "durante las vacaciones", "debajo del puente", "muy tarde por la noche",
         "en el desván", "junto a la vieja iglesia"],
        "{s} {v} {o} {p}.",
    ),
    "de": (
        ["Der alte Bauer", "Meine Schwester", "Ein kleiner Hund", "Die Lehrerin",
         "Unser Nachbar", "Der junge Pilot", "Sein Onkel", "Eine müde Studentin",
         "Der Kapitän", "Ihre Cousine", "Der stille Maler", "Eine freundliche Pflegerin"],
        ["fand", "malte", "trug", "verkaufte", "putzte", "öffnete", "reparierte",
         "versteckte", "kaufte", "verlor", "lieh sich", "verpackte"],
        ["einen grünen Schirm", "die kaputte Uhr", "drei Holzkisten", "eine leere Flasche",
         "den schweren Koffer", "ein altes Fahrrad", "einen Korb mit Birnen",
         "den silbernen Schlüssel", "eine Wolldecke", "das blaue Heft", "ein Paar Stiefel",
         "den Küchenstuhl"],
        ["am Fluss", "vor dem Frühstück", "im Garten", "nach dem Sturm", "auf dem Markt",
         "am Sonntagmorgen", "hinter dem Bahnhof", "in den Ferien", "unter der Brücke",
         "spät in der Nacht", "auf dem Dachboden", "neben der alten Kirche"],
        "{s} {v} {o} {p}.",
    ),
    "fr": (
        ["Le vieux fermier", "Ma sœur", "Un petit chien", "La maîtresse", "Notre voisin",
         "Le jeune pilote", "Son oncle", "Une étudiante fatiguée", "Le capitaine",
         "Ma cousine", "Le peintre silencieux", "Une infirmière aimable"],
        ["a trouvé", "a peint", "a porté", "a vendu", "a nettoyé", "a ouvert", "a réparé",
         "a caché", "a acheté", "a perdu", "a emprunté", "a emballé"],
        ["un parapluie vert", "l'horloge cassée", "trois caisses en bois",
         "une bouteille vide", "la valise lourde", "un vieux vélo", "un panier de poires",
         "la clé en argent", "une couverture en laine", "le cahier bleu",
         "une paire de bottes", "la chaise de la cuisine"],
        ["près de la rivière", "avant le petit déjeuner", "dans le jardin", "après l'orage",
         "au marché", "dimanche matin", "derrière la gare", "pendant les vacances",
         "sous le pont", "tard dans la nuit", "au grenier", "à côté de la vieille église"],
        "{s} {v} {o} {p}.",
    ),
}


def composed(lang: str, n: int, seed: int = 1234):
    subj, verb, obj, place, fmt = PARTS[lang]
    rng = random.Random(seed + sum(map(ord, lang)))
    seen, out = set(), []
    while len(out) < n:
        s, v, o, p = (rng.choice(x) for x in (subj, verb, obj, place))
        key = (s, v, o, p)
        if key in seen:
            continue
        seen.add(key)
        out.append(fmt.format(s=s, v=v, o=o, p=p))
    return out


def main(n_composed: int = 225):
    for lang, text in HAND.items():
        hand = [t.strip() for t in text.strip().splitlines() if t.strip()]
        lines = hand + composed(lang, n_composed)
        assert len(set(lines)) == len(lines)
        (HERE / f"sentences_{lang}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        print(lang, len(lines))


if __name__ == "__main__":
    main()
