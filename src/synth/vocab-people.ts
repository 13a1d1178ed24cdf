/**
 * Names and places for synthetic patients. Lists mix many origins on purpose:
 * name search, phonetic matching and blind-index prefixes must be exercised on
 * something closer to a real US population than "John Smith" ×1,000,000.
 * Street names are invented and phone numbers use the fictional 555-01xx range.
 */

const words = (text: string): readonly string[] => text.trim().split(/\s+/);

export const FEMALE_GIVEN = words(`
  Mary Patricia Jennifer Linda Elizabeth Barbara Susan Jessica Sarah Karen Nancy Lisa Emily Olivia Emma Ava
  Sophia Isabella Mia Charlotte Amelia Harper Evelyn Abigail Ella Grace Chloe Camila Aaliyah Zoe Maya Leah
  Sofia Valentina Ximena Lucia Gabriela Guadalupe Mariana Daniela Fatima Aisha Amina Zainab Noor Layla
  Yasmin Priya Ananya Aditi Deepa Mei Ling Yuki Sakura Hana Ji-woo Seo-yeon Minh Linh Thi Ngozi Chiamaka
  Ayana Imani Nia Keisha Tamika Olga Anastasia Ingrid Astrid Siobhan Aoife Giulia Francesca Leilani Malia
`);

export const MALE_GIVEN = words(`
  James Robert John Michael David William Richard Joseph Thomas Christopher Charles Daniel Matthew Anthony
  Mark Steven Liam Noah Oliver Elijah Lucas Mason Ethan Logan Jacob Jackson Aiden Carter Santiago Mateo
  Diego Alejandro Javier Carlos Luis Jose Miguel Juan Mohammed Ahmed Omar Yusuf Ali Hassan Ibrahim Arjun
  Rohan Vikram Rahul Sanjay Wei Jian Hiroshi Kenji Takumi Min-jun Ji-ho Duc Minh-Quan Chinedu Oluwaseun
  Kwame Kofi Malik Darnell Andre Jamal Dmitri Ivan Sven Lars Cian Declan Marco Giuseppe Kai Keoni Tyrone
`);

export const FAMILY = words(`
  Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez
  Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark Ramirez
  Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams Nelson Baker
  Hall Rivera Campbell Mitchell Carter Roberts Kim Park Choi Chen Wang Li Zhang Liu Tanaka Sato Suzuki
  Yamamoto Patel Shah Singh Kumar Gupta Reddy Iyer Khan Ahmed Hussain Rahman Haddad Nasser Okafor Adeyemi
  Mensah Osei Diallo Kowalski Novak Ivanov Petrov Schmidt Muller Rossi Russo Bianchi Murphy Kelly
  O'Brien Sullivan Kealoha Begay Yazzie Tsosie Tran Pham Le Dubois Moreau Lefebvre Jensen Hansen Larsen
`);

export const STREETS = words(`
  Maple Oak Pine Cedar Elm Willow Birch Aspen Juniper Magnolia Sycamore Hickory Chestnut Poplar Laurel
  Meadow Ridge Lake River Spring Valley Harbor Summit Orchard Prairie Canyon Mesa Sunset Highland Mill
`);

export const STREET_SUFFIXES = words('Street Avenue Road Lane Drive Court Way Place Boulevard Terrace');

export interface Place {
  city: string;
  state: string;
  /** First three digits of the ZIP code; the last two are random. */
  zip3: string;
  /** Area code for the fictional 555-01xx phone numbers. */
  area: string;
}

function place(city: string, state: string, zip3: string, area: string): Place {
  return { city, state, zip3, area };
}

export const PLACES: readonly Place[] = [
  place('Boston', 'MA', '021', '617'),
  place('Worcester', 'MA', '016', '508'),
  place('Providence', 'RI', '029', '401'),
  place('Hartford', 'CT', '061', '860'),
  place('New York', 'NY', '100', '212'),
  place('Buffalo', 'NY', '142', '716'),
  place('Philadelphia', 'PA', '191', '215'),
  place('Pittsburgh', 'PA', '152', '412'),
  place('Baltimore', 'MD', '212', '410'),
  place('Richmond', 'VA', '232', '804'),
  place('Charlotte', 'NC', '282', '704'),
  place('Atlanta', 'GA', '303', '404'),
  place('Miami', 'FL', '331', '305'),
  place('Orlando', 'FL', '328', '407'),
  place('Nashville', 'TN', '372', '615'),
  place('Chicago', 'IL', '606', '312'),
  place('Detroit', 'MI', '482', '313'),
  place('Columbus', 'OH', '432', '614'),
  place('Minneapolis', 'MN', '554', '612'),
  place('St. Louis', 'MO', '631', '314'),
  place('New Orleans', 'LA', '701', '504'),
  place('Houston', 'TX', '770', '713'),
  place('San Antonio', 'TX', '782', '210'),
  place('Denver', 'CO', '802', '303'),
  place('Albuquerque', 'NM', '871', '505'),
  place('Phoenix', 'AZ', '850', '602'),
  place('Salt Lake City', 'UT', '841', '801'),
  place('Las Vegas', 'NV', '891', '702'),
  place('Los Angeles', 'CA', '900', '213'),
  place('San Diego', 'CA', '921', '619'),
  place('San Francisco', 'CA', '941', '415'),
  place('Portland', 'OR', '972', '503'),
  place('Seattle', 'WA', '981', '206'),
  place('Anchorage', 'AK', '995', '907'),
  place('Honolulu', 'HI', '968', '808'),
  place('Window Rock', 'AZ', '865', '928'),
];
